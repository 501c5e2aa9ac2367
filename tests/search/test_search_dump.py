"""No plaintext word and no unkeyed hash of one is ever stored: dump the database and grep."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from sqlalchemy import select

from app import db
from app.conversations.models import Message
from app.search import services
from app.search.models import MessageSearchToken
from tests.webhooks.webhook_helpers import item, now_ms

WORD = "Quetzalcoatlus"


def _sqlite_bytes() -> bytes:
    path = Path(db.engine.url.database or "")
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def _pg_dump() -> bytes:
    url = os.environ["DATABASE_URL"]
    return subprocess.run(["pg_dump", "--no-owner", url], check=True, capture_output=True).stdout


def test_a_sent_word_is_nowhere_in_the_database(page, deliver):
    deliver(item("555000999", now_ms(), message={"mid": "m_dump", "text": f"I saw a {WORD} fossil!"}))
    message = db.session.scalar(select(Message).where(Message.mid == "m_dump"))
    assert services.do_search(services.check_query({"text": WORD})).count == 1
    [keyed] = services.word_tokens([WORD.lower()])
    assert (
        db.session.scalar(
            select(MessageSearchToken.token)
            .where(MessageSearchToken.message_id == message.id)
            .where(MessageSearchToken.token == keyed)
        )
        == keyed
    )
    db.session.commit()
    db.session.remove()
    db.engine.dispose()  # SQLite: everything is in the files we read

    word = WORD.lower().encode()
    digest = hashlib.sha256(word).digest()
    unkeyed_int = int.from_bytes(digest[:8], "big", signed=True)
    if db.engine.dialect.name == "postgresql":
        dump = _pg_dump()
        assert str(keyed).encode() in dump  # the dump holds the index
        forbidden = [word, digest.hex().encode(), str(unkeyed_int).encode(), str(unkeyed_int & (2**64 - 1)).encode()]
    else:
        dump = _sqlite_bytes()
        assert keyed.to_bytes(8, "big", signed=True) in dump  # the file holds the index
        forbidden = [word, digest, digest[:8], digest.hex().encode()]
    dump = dump.lower()
    for needle in forbidden:
        assert needle.lower() not in dump, needle
    for other in (b"fossil", b"saw a"):
        assert other not in dump, other
