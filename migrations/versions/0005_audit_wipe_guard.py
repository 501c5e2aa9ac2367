"""Audit wipe guard (PostgreSQL): audit_log, audit_head and audit_segment refuse TRUNCATE too;
the head only moves forward to a row that exists; the archive's delete goes through a
SECURITY DEFINER function instead of a setting any session could `SET`.

The archive function writes a grant for its own transaction into `audit_archive_grant`, a table
no one but its owner (the role that runs migrations) may touch; the guard trigger lets a DELETE
through only when that grant exists. Run the application as a role that does not own the tables
(docs/security.md) and it can neither disable the triggers nor forge the grant.

Revision ID: 0005_audit_wipe
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_audit_wipe"
down_revision = "0004"
branch_labels = None
depends_on = None

DEFINER = "LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public"

LOG_GUARD = f"""
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger {DEFINER} AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_archive_grant WHERE txid = txid_current()) THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

HEAD_GUARD = f"""
CREATE OR REPLACE FUNCTION audit_head_guard() RETURNS trigger {DEFINER} AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF (TG_OP = 'INSERT' OR (NEW.id = OLD.id AND NEW.last_id > OLD.last_id))
           AND EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.last_id AND hash = NEW.last_hash) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit_head only moves forward to an existing audit_log row: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'audit_head is guarded: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

SEGMENT_GUARD = f"""
CREATE OR REPLACE FUNCTION audit_segment_append_only() RETURNS trigger {DEFINER} AS $$
BEGIN
    RAISE EXCEPTION 'audit_segment is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$
"""

ARCHIVE_DELETE = f"""
CREATE OR REPLACE FUNCTION audit_archive_delete(p_through integer) RETURNS integer {DEFINER} AS $$
DECLARE
    seg audit_segment%ROWTYPE;
    n integer;
    tail text;
BEGIN
    SELECT * INTO seg FROM audit_segment ORDER BY id DESC LIMIT 1;
    IF NOT FOUND OR seg.archived_through_id <> p_through THEN
        RAISE EXCEPTION 'audit archive: record the archive segment through row % first', p_through
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT count(*), max(hash) FILTER (WHERE id = p_through) INTO n, tail FROM audit_log WHERE id <= p_through;
    IF n <> seg.archived_rows OR tail IS DISTINCT FROM seg.start_prev_hash THEN
        RAISE EXCEPTION 'audit archive: the segment does not describe the rows through %', p_through
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO audit_archive_grant (txid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
    DELETE FROM audit_log WHERE id <= p_through;
    DELETE FROM audit_archive_grant WHERE txid = txid_current();
    RETURN n;
END;
$$
"""

# 0004's function and row trigger, restored by downgrade.
ARCHIVE_AWARE_0004 = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('omnicrm.audit_archive', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    # A model too (app.audit.models.AuditArchiveGrant), so the schema matches on both backends.
    op.create_table(
        "audit_archive_grant",
        sa.Column("txid", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("txid"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("REVOKE ALL ON audit_archive_grant FROM PUBLIC")
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.execute(LOG_GUARD)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
    )
    op.execute(HEAD_GUARD)
    op.execute(
        "CREATE TRIGGER audit_head_guard BEFORE INSERT OR UPDATE ON audit_head "
        "FOR EACH ROW EXECUTE FUNCTION audit_head_guard()"
    )
    op.execute(
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_head "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_head_guard()"
    )
    op.execute(SEGMENT_GUARD)
    op.execute(
        "CREATE TRIGGER audit_segment_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_segment "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_segment_append_only()"
    )
    op.execute(ARCHIVE_DELETE)
    # Only roles granted EXECUTE (the application's, docs/security.md) may archive.
    op.execute("REVOKE ALL ON FUNCTION audit_archive_delete(integer) FROM PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_table("audit_archive_grant")
        return
    op.execute("DROP FUNCTION IF EXISTS audit_archive_delete(integer)")
    op.execute("DROP TRIGGER IF EXISTS audit_segment_append_only ON audit_segment")
    op.execute("DROP FUNCTION IF EXISTS audit_segment_append_only()")
    op.execute("DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head")
    op.execute("DROP TRIGGER IF EXISTS audit_head_guard ON audit_head")
    op.execute("DROP FUNCTION IF EXISTS audit_head_guard()")
    op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.execute(ARCHIVE_AWARE_0004)
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )
    op.drop_table("audit_archive_grant")
