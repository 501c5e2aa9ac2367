"""`flask omnicrm audit archive`: old rows leave in a verifiable file, the chain stays valid."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app import db
from app.audit.archive import archive_before, verify_archive_file
from app.audit.models import AuditLog, AuditSegment
from app.audit.service import record
from app.audit.verify import verify_chain
from app.core.models import utcnow


def _events(n: int, prefix: str) -> None:
    for i in range(n):
        record(f"{prefix}_event", "test", i, {"n": i})
    db.session.commit()


def test_archive_moves_old_rows_and_keeps_a_valid_chain(app, tmp_path):
    _events(5, "old")
    first_ids = list(db.session.scalars(select(AuditLog.id).order_by(AuditLog.id)))
    assert len(first_ids) >= 5
    runner = app.test_cli_runner()
    cutoff = (utcnow() + timedelta(seconds=1)).isoformat()
    result = runner.invoke(args=["omnicrm", "audit", "archive", "--before", cutoff, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"Archived {len(first_ids)} rows" in result.output

    files = list(Path(tmp_path).glob("audit-archive-*.jsonl"))
    assert len(files) == 1
    assert sum(1 for _ in files[0].open()) == len(first_ids)
    assert verify_archive_file(files[0])  # the file is a chain of its own, from genesis
    # what is left: only the archive event, linked to the last archived row
    left = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [r.action for r in left] == ["audit_archived"]
    segment = db.session.scalars(select(AuditSegment)).one()
    assert left[0].prev_hash == segment.start_prev_hash
    assert segment.archived_rows == len(first_ids)
    assert segment.archived_through_id == first_ids[-1]
    assert verify_chain().ok
    # the chain goes on normally, and verify still passes
    _events(3, "new")
    assert verify_chain().ok
    verify = runner.invoke(args=["omnicrm", "audit", "verify"])
    assert verify.exit_code == 0, verify.output


def test_tampering_after_archive_is_still_detected(app, tmp_path):
    _events(3, "old")

    archive_before(utcnow() + timedelta(seconds=1), tmp_path)
    _events(2, "new")
    assert verify_chain().ok
    # a forged segment (pointing the chain elsewhere) fails its signature
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # as the owner, with the guard triggers off
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE audit_segment SET start_prev_hash = :h"), {"h": "f" * 64})
    result = verify_chain()
    assert not result.ok
    assert "segment" in result.reason


def test_nothing_to_archive_and_bad_dates(app, tmp_path):
    _events(2, "recent")
    runner = app.test_cli_runner()
    old = runner.invoke(args=["omnicrm", "audit", "archive", "--before", "2000-01-01", "--out", str(tmp_path)])
    assert old.exit_code == 0
    assert "nothing archived" in old.output
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) >= 2
    bad = runner.invoke(args=["omnicrm", "audit", "archive", "--before", "last tuesday"])
    assert bad.exit_code == 2
    assert "ISO" in bad.output


def test_archive_refuses_a_broken_chain(app, tmp_path):
    _events(3, "x")
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        conn.execute(text("UPDATE audit_log SET actor_name = 'mallory' WHERE id = (SELECT min(id) FROM audit_log)"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    runner = app.test_cli_runner()
    before = db.session.scalar(select(func.count()).select_from(AuditLog))
    result = runner.invoke(args=["omnicrm", "audit", "archive", "--before", "2999-01-01", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "broken" in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditLog)) == before


def test_plain_delete_is_still_refused_on_postgresql(app):
    _events(1, "x")
    if db.engine.dialect.name != "postgresql":
        assert db.session.scalar(select(func.count()).select_from(AuditLog)) >= 1
        return
    with pytest.raises(DBAPIError), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
