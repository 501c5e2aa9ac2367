"""A database-level wipe of the audit log is reported, never verified as an empty, valid chain."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from app import db
from app.audit import anchor, service
from app.audit.archive import archive_before
from app.audit.verify import verify_chain
from app.core.context import Actor, acting_as
from app.core.models import utcnow


def _require_pg() -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the guard triggers are PostgreSQL-only (SQLite has no roles; verify still catches edits)")


def raw(*statements: str, **params) -> None:
    """Write the audit tables behind the application's back (PostgreSQL: as the owner, guards off)."""
    db.session.rollback()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        for sql in statements:
            conn.execute(text(sql), params)


def make_rows(n: int = 3) -> None:
    with acting_as(Actor(1, "admin", "10.1.1.1", "ua")):
        for i in range(n):
            service.record("test_event", "contact", i, {"n": i})
            db.session.commit()


def _execute_all(engine, statements: list[str]) -> None:
    """Run the statements in one transaction (pytest.raises wraps this single call)."""
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_wiping_log_and_head_while_audited_tables_hold_rows_is_reported(page):
    assert verify_chain().ok  # the page's insert started the chain
    raw("DELETE FROM audit_log", "DELETE FROM audit_head")
    result = verify_chain()
    assert not result.ok
    assert "wiped" in result.reason
    assert "holds rows" in result.reason


def test_wiping_everything_after_an_archive_is_reported(tmp_path):
    make_rows(3)
    archive_before(utcnow() + timedelta(seconds=1), tmp_path)
    make_rows(1)
    assert verify_chain().ok
    raw("DELETE FROM audit_log", "DELETE FROM audit_head")
    result = verify_chain()
    assert not result.ok
    assert "archived" in result.reason
    assert "wiped" in result.reason


def test_an_emptied_log_under_its_head_is_reported():
    make_rows(2)
    raw("DELETE FROM audit_log")
    result = verify_chain()
    assert not result.ok
    assert "emptied" in result.reason


def test_missing_rows_at_the_start_without_a_segment_are_reported():
    make_rows(4)
    raw("DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log ORDER BY id LIMIT 2)")
    result = verify_chain()
    assert not result.ok
    assert "start" in result.reason
    assert result.rows == 0


def test_the_cli_reports_a_wipe(app, page):
    raw("DELETE FROM audit_log", "DELETE FROM audit_head")
    out = app.test_cli_runner().invoke(args=["omnicrm", "audit", "verify"])
    assert out.exit_code == 1
    assert "wiped" in out.output


# --------------------------------------------------------------------------- anchor file


@pytest.fixture
def anchored(app, tmp_path):
    path = tmp_path / "audit-anchor.jsonl"
    app.config["AUDIT_ANCHOR_PATH"] = str(path)
    try:
        yield path
    finally:
        app.config["AUDIT_ANCHOR_PATH"] = ""


def _head() -> tuple[int, str]:
    row = db.session.execute(text("SELECT last_id, last_hash FROM audit_head")).one()
    return row[0], row[1]


def test_each_committed_head_is_anchored_and_rollbacks_are_not(anchored):
    make_rows(3)
    assert anchor.last_anchor(anchored) == _head()
    assert len(anchored.read_text().splitlines()) == 3
    service.record("never_committed", "contact", 9)
    db.session.rollback()
    assert len(anchored.read_text().splitlines()) == 3
    assert verify_chain().ok


def test_a_rollback_to_an_older_signed_head_is_caught_by_the_anchor(anchored):
    make_rows(2)
    old_id, old_hash = _head()
    old_sig = db.session.execute(text("SELECT signature FROM audit_head")).scalar_one()
    make_rows(3)
    # the attacker kept an old (validly signed) head and cuts the chain back to it
    raw(
        "DELETE FROM audit_log WHERE id > :old",
        "UPDATE audit_head SET last_id = :old, last_hash = :h, signature = :s",
        old=old_id,
        h=old_hash,
        s=old_sig,
    )
    anchored_path = str(anchored)
    db.session.rollback()

    current_app.config["AUDIT_ANCHOR_PATH"] = ""
    assert verify_chain().ok  # the database alone can't tell
    current_app.config["AUDIT_ANCHOR_PATH"] = anchored_path
    result = verify_chain()
    assert not result.ok
    assert "AUDIT_ANCHOR_PATH" in result.reason


def test_an_empty_chain_with_an_anchor_is_reported(anchored):
    make_rows(1)
    raw("DELETE FROM audit_log", "DELETE FROM audit_head")
    result = verify_chain()
    assert not result.ok


def test_a_torn_last_line_falls_back_to_the_previous_head(anchored):
    make_rows(2)
    head = _head()
    with open(anchored, "ab") as fh:
        fh.write(b'{"id": 99, "ha')
    assert anchor.last_anchor(anchored) == head


# --------------------------------------------------------------------------- PostgreSQL guards


@pytest.mark.parametrize(
    "sql",
    [
        "TRUNCATE audit_log",
        "DELETE FROM audit_head",
        "TRUNCATE audit_head",
        "UPDATE audit_head SET last_id = last_id - 1",
        "UPDATE audit_head SET last_hash = 'f'",
        "UPDATE audit_segment SET archived_rows = 0",
        "DELETE FROM audit_segment",
        "TRUNCATE audit_segment",
    ],
)
def test_guards_refuse_wiping_the_head_and_segments(sql, tmp_path):
    _require_pg()
    make_rows(3)
    archive_before(utcnow() + timedelta(seconds=1), tmp_path)
    make_rows(1)
    db.session.rollback()
    with pytest.raises(DBAPIError, match="refused"):
        _execute_all(db.engine, [sql])
    assert verify_chain().ok


def test_a_plain_set_no_longer_opens_the_archive_bypass():
    _require_pg()
    make_rows(2)
    db.session.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        _execute_all(db.engine, ["SET LOCAL omnicrm.audit_archive = 'on'", "DELETE FROM audit_log"])
    assert verify_chain().ok


def test_the_archive_function_refuses_rows_no_segment_describes():
    _require_pg()
    make_rows(3)
    last = db.session.execute(text("SELECT max(id) FROM audit_log")).scalar_one()
    db.session.rollback()
    with pytest.raises(DBAPIError, match="segment"), db.engine.begin() as conn:
        conn.execute(text("SELECT audit_archive_delete(:t)"), {"t": last})
    assert verify_chain().rows == 3


def _documented_grants(role: str) -> list[str]:
    """The grant block of docs/security.md, for `role` (so the documentation is what is tested)."""

    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    block = next(b for b in doc.split("```sql")[1:] if "GRANT USAGE ON SCHEMA public TO omnicrm_app" in b)
    sql = block.split("```")[0].replace("omnicrm_app", role)
    return [s.strip() for s in sql.split(";") if s.strip()]


@pytest.mark.parametrize(
    "sql",
    [
        "ALTER TABLE audit_log DISABLE TRIGGER ALL",
        "TRUNCATE audit_log",
        "DELETE FROM audit_head",
        "SET LOCAL omnicrm.audit_archive = 'on'; DELETE FROM audit_log",
        "INSERT INTO audit_archive_grant (txid) VALUES (txid_current())",
        "DROP TRIGGER audit_log_append_only ON audit_log",
    ],
)
def test_the_documented_non_owner_role_cannot_open_the_guard(sql):
    _require_pg()

    make_rows(2)
    db.session.rollback()
    role = f"omnicrm_app_{db.engine.url.database}"
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        for statement in _documented_grants(role):
            conn.execute(text(statement))
    engine = create_engine(db.engine.url.set(username=role, password=None))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == 2
        with pytest.raises(DBAPIError):
            _execute_all(engine, sql.split("; "))
    finally:
        engine.dispose()
        with db.engine.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
    assert verify_chain().ok
