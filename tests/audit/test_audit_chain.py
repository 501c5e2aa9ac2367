"""The hash chain: any edit made directly in the database is caught by `audit verify`."""

from __future__ import annotations

import itertools
import json
import multiprocessing

import pytest
from sqlalchemy import text

from app import create_app, db
from app.audit import service
from app.audit.verify import verify_chain
from app.contacts.models import Contact
from app.core.context import Actor, acting_as

TAMPER = {
    "created_at": "created_at = '2020-01-01 00:00:00'",
    "actor_id": "actor_id = 999",
    "actor_name": "actor_name = 'someone-else'",
    "action": "action = 'view'",
    "entity_type": "entity_type = 'page'",
    "entity_id": "entity_id = '31337'",
    "changes": 'changes = \'{"tags": "forged"}\'',
    "ip": "ip = '6.6.6.6'",
    "user_agent": "user_agent = 'forged'",
    "request_id": "request_id = 'forged'",
    "prev_hash": "prev_hash = '" + "a" * 64 + "'",
    "hash": "hash = '" + "b" * 64 + "'",
}


def raw(sql: str, **params) -> None:
    """Edit the audit tables behind the application's back (PostgreSQL: as the owner, guards off)."""
    db.session.rollback()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql), params)


@pytest.fixture(autouse=True)
def _empty_chain() -> None:
    """Start each test from an empty chain (the session fixture's users left rows)."""
    db.session.rollback()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text("TRUNCATE audit_log, audit_head RESTART IDENTITY"))
        else:
            conn.execute(text("DELETE FROM audit_log"))
            conn.execute(text("DELETE FROM audit_head"))


def make_rows(n: int = 5) -> list[int]:
    with acting_as(Actor(1, "admin", "10.1.1.1", "ua")):
        for i in range(n):
            service.record("test_event", "contact", i, {"n": i, "tags": "t"})
            db.session.commit()
    return list(db.session.scalars(text("SELECT id FROM audit_log ORDER BY id")))


def test_an_untouched_chain_verifies():
    ids = make_rows()
    result = verify_chain()
    assert result.ok
    assert result.rows == len(ids) == 5


def test_first_row_links_to_genesis_and_rows_link_to_each_other():
    make_rows(3)
    chain = db.session.execute(text("SELECT prev_hash, hash FROM audit_log ORDER BY id")).all()
    assert chain[0].prev_hash == service.GENESIS
    assert chain[1].prev_hash == chain[0].hash
    assert chain[2].prev_hash == chain[1].hash


@pytest.mark.parametrize("column", sorted(TAMPER))
@pytest.mark.parametrize("position", [0, 2, 4])
def test_tampering_with_any_column_of_any_row_is_detected(column, position):
    ids = make_rows()
    raw(f"UPDATE audit_log SET {TAMPER[column]} WHERE id = :id", id=ids[position])
    result = verify_chain()
    assert not result.ok
    # Editing `hash` shows up at this row (content no longer matches) ...
    assert result.broken_id == ids[position]


@pytest.mark.parametrize("position", [0, 2, 4])
def test_deleting_a_row_is_detected(position):
    ids = make_rows()
    raw("DELETE FROM audit_log WHERE id = :id", id=ids[position])
    result = verify_chain()
    assert not result.ok
    expected = ids[position + 1] if position < 4 else ids[4]
    assert result.broken_id == expected


def test_reordering_rows_is_detected():
    ids = make_rows()
    # Swap the content of rows 2 and 3 (ids stay): the order of events is rewritten.
    rows = db.session.execute(text("SELECT * FROM audit_log ORDER BY id")).mappings().all()
    r2, r3 = dict(rows[1]), dict(rows[2])
    fields = [*service.HASHED_FIELDS, "prev_hash", "hash"]
    pg = db.engine.dialect.name == "postgresql"
    assignments = ", ".join(f"{f} = CAST(:{f} AS jsonb)" if f == "changes" and pg else f"{f} = :{f}" for f in fields)
    # unique(hash): park row 2's hash first
    raw("UPDATE audit_log SET hash = 'tmp' WHERE id = :id", id=ids[1])
    for target, source in ((ids[2], r2), (ids[1], r3)):
        params = {f: source[f] for f in fields}
        if isinstance(params["changes"], (dict, list)):
            params["changes"] = json.dumps(params["changes"])
        raw(f"UPDATE audit_log SET {assignments} WHERE id = :id", id=target, **params)
    result = verify_chain()
    assert not result.ok
    assert result.broken_id == ids[1]


@pytest.mark.parametrize("position", [0, 3, 4, 8])
def test_parallel_verify_finds_the_same_first_break(position):
    ids = make_rows(9)
    assert verify_chain(workers=3).ok
    raw("UPDATE audit_log SET action = 'x' WHERE id = :id", id=ids[position])
    raw("DELETE FROM audit_log WHERE id = :id", id=ids[7])
    result = verify_chain(workers=3)
    assert not result.ok
    assert result.broken_id == ids[position]
    assert result == verify_chain(workers=1)


def test_a_row_appended_behind_the_apps_back_is_detected():
    ids = make_rows(2)
    last = db.session.execute(text("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")).scalar_one()
    row = service.make_row("forged", "contact", 1, None, actor=Actor(None, "x"), request_id=None)
    new_hash = service.row_hash(last, row)
    raw(
        "INSERT INTO audit_log (created_at, actor_name, action, entity_type, entity_id, prev_hash, hash) "
        "VALUES (:c, 'x', 'forged', 'contact', '1', :p, :h)",
        c=row["created_at"],
        p=last,
        h=new_hash,
    )
    result = verify_chain()
    assert not result.ok
    assert result.broken_id == ids[-1] + 1


def test_a_forged_head_is_detected():
    make_rows(2)
    raw("UPDATE audit_head SET last_id = last_id - 1")
    result = verify_chain()
    assert not result.ok
    assert "signature" in result.reason


def test_cli_verify_exit_codes(app):
    ids = make_rows(3)
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["omnicrm", "audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "3 rows verified" in ok.output
    raw("UPDATE audit_log SET actor_name = 'x' WHERE id = :id", id=ids[1])
    bad = runner.invoke(args=["omnicrm", "audit", "verify"])
    assert bad.exit_code == 1
    assert f"BROKEN at row {ids[1]}" in bad.output


def test_cli_export_writes_guarded_csv_and_is_audited(app, tmp_path):
    with acting_as(Actor(1, "=cmd|' /C calc'!A0")):
        service.record("test_event", "contact", 1)
        db.session.commit()
    out = tmp_path / "audit.csv"
    res = app.test_cli_runner().invoke(args=["omnicrm", "audit", "export", "--output", str(out)])
    assert res.exit_code == 0, res.output
    body = out.read_text()
    assert "'=cmd" in body
    assert ",=cmd" not in body
    actions = list(db.session.scalars(text("SELECT action FROM audit_log ORDER BY id")))
    assert actions[-1] == "audit_exported"
    assert verify_chain().ok


def test_trigger_blocks_update_and_delete_on_postgresql():
    make_rows(1)
    db.session.rollback()
    if db.engine.dialect.name != "postgresql":
        # SQLite: the migration is a documented no-op; tampering is still caught by verify.
        names = db.session.scalars(text("SELECT name FROM sqlite_master WHERE type = 'trigger'")).all()
        assert "audit_log_append_only" not in names
        return
    for sql in ("UPDATE audit_log SET actor_name = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(Exception, match="append-only"):
            with db.engine.begin() as conn:
                conn.execute(text(sql))
    assert verify_chain().ok


def _writer(n: int, tag: str, page_id: int, barrier) -> None:
    """Child process: its own app and connections, n committed contact inserts."""

    app = create_app({"SERVER_NAME": None})
    barrier.wait(timeout=120)  # both processes start writing together
    with app.app_context(), acting_as(Actor(None, f"proc-{tag}")):
        for i in range(n):
            db.session.add(Contact(page_id=page_id, psid=f"{tag}{i}", tags=tag))
            db.session.commit()
        db.session.remove()
        db.engine.dispose()


def test_two_processes_writing_concurrently_keep_one_valid_chain(page):
    n = 60
    page_id = page.id
    db.session.remove()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(n, tag, page_id, barrier)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0]
    result = verify_chain()
    sql = "SELECT actor_name FROM audit_log WHERE action = 'insert' AND entity_type = 'contact' ORDER BY id"
    actors = db.session.scalars(text(sql)).all()
    assert sorted(set(actors)) == ["proc-a", "proc-b"]
    assert len(actors) == 2 * n
    switches = sum(1 for x, y in itertools.pairwise(actors) if x != y)
    print(f"writer switches in the chain: {switches}")
    assert result.ok, result
