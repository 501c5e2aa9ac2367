"""`flask db upgrade` yields exactly the models, and downgrade works (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder.models.sqla import Base
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from app import db


def _diff(connection) -> list:
    ctx = MigrationContext.configure(connection, opts={"compare_type": True})
    diffs = compare_metadata(ctx, Base.metadata)

    def db_only_extra(d) -> bool:
        # PostgreSQL-only extras from hand-written migrations (trigram indexes, triggers)
        obj = d[1] if isinstance(d, tuple) and len(d) > 1 else None
        name = getattr(obj, "name", "") or ""
        return d[0] == "remove_index" and ("trgm" in name or name.startswith("pgx_"))

    return [d for d in diffs if not (isinstance(d, tuple) and db_only_extra(d))]


def test_upgraded_schema_matches_models(app):
    with db.engine.connect() as conn:
        assert _diff(conn) == []


def test_downgrade_to_base_and_back(app, tmp_path):
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        name = f"omnicrm_mig_{uuid.uuid4().hex[:8]}"
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        target = url.set(database=name)
    else:
        admin, name = None, None
        target = f"sqlite:///{tmp_path / 'mig.db'}"
    old = app.config["SQLALCHEMY_DATABASE_URI"]
    engines = app.extensions["sqlalchemy"]._app_engines[app]
    saved = dict(engines)
    try:
        engines[None] = create_engine(target)
        upgrade()
        tables = set(inspect(engines[None]).get_table_names())
        assert {
            "page",
            "contact",
            "conversation",
            "message",
            "webhook_event",
            "privacy_request",
            "audit_log",
            "ab_user",
            "ab_role",
        } <= tables
        with engines[None].connect() as conn:
            assert _diff(conn) == []
        downgrade(revision="base")
        left = set(inspect(engines[None]).get_table_names()) - {"alembic_version"}
        assert left == set()
        upgrade()
        assert "contact" in set(inspect(engines[None]).get_table_names())
    finally:
        engines[None].dispose()
        engines.clear()
        engines.update(saved)
        app.config["SQLALCHEMY_DATABASE_URI"] = old
        if admin is not None:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
