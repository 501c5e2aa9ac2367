"""Migration 0019 copies each message's time into its search tokens (and back out on
downgrade), on a scratch database of the test's backend (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from flask_migrate import downgrade, upgrade
from sqlalchemy import Engine, inspect, text

from tests.helpers import insert_conversation_1, previous_revision, scratch_database

REVISION = "0019"
AT = (datetime(2025, 6, 1, 9, 30), datetime(2025, 7, 2, 18, 0, 5))


def _seed(engine: Engine) -> None:
    """One conversation, two messages and their tokens, as 0018 stored them (no time)."""
    with engine.begin() as conn:
        run = conn.execute
        insert_conversation_1(conn, AT[0])
        for mid, at in ((1, AT[0]), (2, AT[1])):
            run(
                text(
                    "INSERT INTO message (id, conversation_id, direction, kind, status, attempts, created_at) "
                    "VALUES (:id, 1, 'in', 'text', 'received', 0, :t)"
                ),
                {"id": mid, "t": at},
            )
            for token in (11 * mid, 12 * mid):
                run(
                    text("INSERT INTO message_search_token (token, message_id, conversation_id) VALUES (:k, :m, 1)"),
                    {"k": token, "m": mid},
                )


def _tokens(engine: Engine, with_time: bool) -> list[tuple]:
    columns = "token, message_id, conversation_id" + (", created_at" if with_time else "")
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT {columns} FROM message_search_token ORDER BY token")).all()
    return [tuple(r) for r in rows]


def test_tokens_get_their_message_s_time_and_lose_it_on_downgrade(app, tmp_path):
    previous = previous_revision(app, REVISION)
    with scratch_database(app, tmp_path) as engine:
        upgrade(revision=previous)
        _seed(engine)
        upgrade(revision=REVISION)
        got = [
            (k, m, c, t if isinstance(t, datetime) else datetime.fromisoformat(t))
            for k, m, c, t in _tokens(engine, True)
        ]
        assert got == [(11, 1, 1, AT[0]), (12, 1, 1, AT[0]), (22, 2, 1, AT[1]), (24, 2, 1, AT[1])]
        key = inspect(engine).get_pk_constraint("message_search_token")["constrained_columns"]
        assert key == ["token", "message_id", "conversation_id", "created_at"]
        downgrade(revision=previous)
        assert _tokens(engine, False) == [(11, 1, 1), (12, 1, 1), (22, 2, 1), (24, 2, 1)]
        assert "created_at" not in {c["name"] for c in inspect(engine).get_columns("message_search_token")}
