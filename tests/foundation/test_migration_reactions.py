"""Migration 0021 puts reactions stored before they were shown on their messages onto those
messages (newest wins, unreact removes, unsent keeps none), on a scratch database of the test's
backend (SQLite or PostgreSQL); running it twice changes nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from flask_migrate import downgrade, upgrade
from sqlalchemy import Engine, text

from tests.helpers import insert_conversation_1, previous_revision, scratch_database

REVISION = "0021"
T0 = datetime(2026, 5, 4, 10, 0, 0, 123456)


def _seed(engine: Engine) -> None:
    with engine.begin() as conn:
        run = conn.execute
        insert_conversation_1(conn, T0)
        messages = [  # (id, mid, kind, meta, minutes after T0)
            (1, "m_liked", "text", {"quick_reply_payload": "YES"}, 0),
            (2, "m_taken_back", "text", None, 0),
            (3, "m_unsent", "unsent", {"deleted": True}, 0),
            (10, "r1", "reaction", {"mid": "m_liked", "action": "react", "reaction": "like", "emoji": "👍"}, 3),
            (11, "r2", "reaction", {"mid": "m_liked", "action": "react", "reaction": "love", "emoji": "❤"}, 2),
            (12, "r3", "reaction", {"mid": "m_taken_back", "action": "react", "reaction": "wow", "emoji": "😮"}, 1),
            (13, "r4", "reaction", {"mid": "m_taken_back", "action": "unreact", "reaction": "wow"}, 4),
            (14, "r5", "reaction", {"mid": "m_unsent", "action": "react", "reaction": "sad", "emoji": "😢"}, 1),
            (15, "r6", "reaction", {"mid": "m_not_stored", "action": "react", "reaction": "like"}, 1),
        ]
        for mid_id, mid, kind, meta, minutes in messages:
            run(
                text(
                    "INSERT INTO message (id, conversation_id, mid, direction, kind, status, attempts, "
                    "created_at, meta) VALUES (:id, 1, :mid, 'in', :kind, 'received', 0, :t, :meta)"
                ),
                {
                    "id": mid_id,
                    "mid": mid,
                    "kind": kind,
                    "t": T0 + timedelta(minutes=minutes),
                    "meta": json.dumps(meta) if meta is not None else None,
                },
            )


def _metas(engine: Engine) -> dict[int, object]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, meta FROM message WHERE id < 10 ORDER BY id")).all()
    return {i: (json.loads(m) if isinstance(m, str) else m) for i, m in rows}


def test_old_reactions_land_on_their_messages(app, tmp_path):
    previous = previous_revision(app, REVISION)
    with scratch_database(app, tmp_path) as engine:
        upgrade(revision=previous)
        _seed(engine)
        upgrade(revision=REVISION)
        expected = {
            1: {
                "quick_reply_payload": "YES",
                "reaction": {"emoji": "👍", "reaction": "like"},  # the newer event wins, not the later row
                "reaction_at": (T0 + timedelta(minutes=3)).isoformat(),
            },
            2: {"reaction_at": (T0 + timedelta(minutes=4)).isoformat()},  # reacted, then taken back
            3: {"deleted": True},  # an unsent message keeps no reaction
        }
        assert _metas(engine) == expected
        downgrade(revision=previous)
        upgrade(revision=REVISION)  # again: nothing changes
        assert _metas(engine) == expected
