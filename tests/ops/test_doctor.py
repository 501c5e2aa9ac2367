"""`flask omnicrm doctor`: one OK/FAIL line per check, exit 1 on any failure, and why."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from app import db
from app.conversations.models import Message
from app.core import crypto


@pytest.fixture
def installation(conversation):
    """A small installation: a contact with its keyed PSID hash, a message, an audit chain."""
    contact = conversation.contact
    contact.psid_hash = crypto.keyed_hash(contact.psid)
    db.session.add(Message(conversation_id=conversation.id, mid="m.doc.1", direction="in", text="hello 42"))
    db.session.commit()
    return contact


def doctor(app):
    db.session.remove()
    result = app.test_cli_runner().invoke(args=["omnicrm", "doctor"])
    lines = result.output.strip().splitlines()
    return result.exit_code, {line.split()[1].rstrip(":"): line for line in lines}


def test_a_whole_installation_is_ok(app, installation):
    code, lines = doctor(app)
    assert code == 0, lines
    assert set(lines) == {"migrations", "keys", "audit", "psid_hash_key", "redis", "mail"}
    assert all(line.startswith("OK") for line in lines.values())


def test_wrong_encryption_keys_fail_and_say_which_value(app, installation):
    crypto.configure(crypto.generate_key())
    try:
        code, lines = doctor(app)
    finally:
        crypto.configure(app.config["ENCRYPTION_KEYS"])
    assert code == 1
    assert lines["keys"].startswith("FAIL")
    assert "ENCRYPTION_KEYS" in lines["keys"]
    assert lines["audit"].startswith("OK")


def test_a_wrong_psid_hash_key_fails(app, installation, monkeypatch):
    monkeypatch.setitem(app.config, "PSID_HASH_KEY", "not-the-key-it-was-written-with")
    code, lines = doctor(app)
    assert code == 1
    assert lines["psid_hash_key"].startswith("FAIL")
    assert "PSID_HASH_KEY" in lines["psid_hash_key"]


def test_a_wrong_secret_key_fails_the_audit_head(app, installation, monkeypatch):
    monkeypatch.setitem(app.config, "SECRET_KEY", "another-installation-secret-key-0123456789")
    code, lines = doctor(app)
    assert code == 1
    assert lines["audit"].startswith("FAIL")
    assert "SECRET_KEY" in lines["audit"]


def test_a_database_behind_the_code_fails_migrations(app, installation):
    current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    db.session.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    db.session.commit()
    try:
        code, lines = doctor(app)
    finally:
        db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})
        db.session.commit()
    assert code == 1
    assert lines["migrations"].startswith("FAIL")
    assert "flask db upgrade" in lines["migrations"]


def test_unreachable_redis_fails(app, installation, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    code, lines = doctor(app)
    assert code == 1
    assert lines["redis"].startswith("FAIL")
    assert "REDIS_URL" in lines["redis"]
