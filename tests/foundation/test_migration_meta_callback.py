"""Migration 0016 renames privacy_request.source `facebook_callback` to `meta_callback` and
back on downgrade, on a scratch database of the test's backend (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import Engine, text

from tests.helpers import previous_revision, scratch_database

REVISION = "0016"  # the rename; its down_revision is read from the script


def _sources(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("SELECT confirmation_code, source FROM privacy_request")).all())


def test_source_rename_up_and_down(app, tmp_path):
    previous = previous_revision(app, REVISION)
    with scratch_database(app, tmp_path) as engine:
        upgrade(revision=previous)
        now = datetime(2026, 3, 1, 12, 0)
        with engine.begin() as conn:
            for code, source in (("cb1", "facebook_callback"), ("cb2", "facebook_callback"), ("st1", "staff")):
                conn.execute(
                    text(
                        "INSERT INTO privacy_request (request_type, source, received_at, due_at, confirmation_code)"
                        " VALUES ('erasure', :source, :now, :now, :code)"
                    ),
                    {"source": source, "now": now, "code": code},
                )
        upgrade(revision=REVISION)
        assert _sources(engine) == {"cb1": "meta_callback", "cb2": "meta_callback", "st1": "staff"}
        downgrade(revision=previous)
        assert _sources(engine) == {"cb1": "facebook_callback", "cb2": "facebook_callback", "st1": "staff"}
