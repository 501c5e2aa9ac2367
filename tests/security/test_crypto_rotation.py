"""Key rotation with three keys, resumability, export files and the start-up key check."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from app import db
from app.audit import service
from app.audit.models import AuditLog
from app.contacts.models import Contact
from app.conversations.models import Message
from app.core import crypto
from app.core.models import utcnow
from app.ops import keys
from app.pages.models import Page
from app.privacy.export_file import decrypt_file, encrypt_file
from app.privacy.models import PrivacyRequest
from app.webhooks.models import WebhookEvent

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def keyring(app):
    """Switch the process key ring for a test and always put the suite's keys back."""

    def use(*ks: str) -> None:
        crypto.configure(",".join(ks))

    yield use
    crypto.configure(app.config["ENCRYPTION_KEYS"])


def _raw(table: str, column: str, pk: int) -> str:
    return db.session.execute(sa.text(f"SELECT {column} FROM {table} WHERE id = :id"), {"id": pk}).scalar_one()


def _seed(conversation, n_messages: int) -> dict[str, int]:

    contact = conversation.contact
    contact.notes = "notes for rotation"
    ids = []
    for i in range(n_messages):
        m = Message(
            conversation_id=conversation.id,
            direction="in",
            text=f"secret message {i}",
            attachments=[{"type": "image", "url": f"https://cdn.example/{i}.png"}],
        )
        db.session.add(m)
        db.session.flush()
        ids.append(m.id)
    ev = WebhookEvent(payload='{"object":"page","entry":[]}')
    pr = PrivacyRequest(
        request_type="rectification",
        contact_id=contact.id,
        due_at=utcnow() + timedelta(days=30),
        confirmation_code=os.urandom(8).hex(),
        details={"first_name": "Ada"},
    )
    db.session.add_all([ev, pr])
    db.session.commit()
    return {"event": ev.id, "request": pr.id, "first_message": ids[0], "last_message": ids[-1]}


def _all_plaintexts(conversation) -> dict:

    db.session.expire_all()
    return {
        "token": db.session.get(Page, conversation.page_id).access_token,
        "notes": db.session.get(Contact, conversation.contact_id).notes,
        "texts": sorted(m.text for m in db.session.scalars(sa.select(Message))),
        "attachments": sorted(repr(m.attachments) for m in db.session.scalars(sa.select(Message))),
        "payloads": [e.payload for e in db.session.scalars(sa.select(WebhookEvent))],
        "details": [r.details for r in db.session.scalars(sa.select(PrivacyRequest))],
    }


def test_encrypted_tables_cover_every_encrypted_column():
    found = {(t.name, c) for t in keys.encrypted_tables() for c in t.columns}
    assert {
        ("page", "access_token"),
        ("message", "text"),
        ("message", "attachments"),
        ("contact", "notes"),
        ("webhook_event", "payload"),
        ("privacy_request", "details"),
    } <= found


def test_values_are_not_stored_in_clear(conversation):
    ids = _seed(conversation, 1)
    raw = _raw("message", "text", ids["first_message"])
    assert "secret message" not in raw
    assert crypto.decrypt(raw) == "secret message 0"
    assert "EAAtestpagetoken" not in _raw("page", "access_token", conversation.page_id)


def test_rotation_with_three_keys_then_old_keys_removed(app, conversation, keyring, monkeypatch):
    k1 = app.config["ENCRYPTION_KEYS"]  # the fixtures' page token is already under it
    k2, k3 = (Fernet.generate_key().decode() for _ in range(2))
    keyring(k1)

    page = db.session.get(Page, conversation.page_id)
    page.set_token("EAArotatedtoken9876")
    ids = _seed(conversation, 3)
    keyring(k2, k1)  # k2 now writes; k1 still reads

    db.session.add(Message(conversation_id=conversation.id, direction="out", text="under k2", attachments=[]))
    conversation.contact.notes = "notes under k2"
    db.session.commit()
    before = _all_plaintexts(conversation)

    keyring(k3, k2, k1)
    audited = []

    real_record = service.record

    def spy(action, *args, **kwargs):
        audited.append((action, args))
        return real_record(action, *args, **kwargs)

    monkeypatch.setattr(service, "record", spy)
    result = app.test_cli_runner().invoke(args=["omnicrm", "keys", "rotate", "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "message: 2/4 rows scanned" in result.output  # progress per batch
    assert "message: 4/4 rows scanned" in result.output
    assert "done:" in result.output
    tables = {args[2]["table"] for action, args in audited if action == "keys_rotated"}
    assert {"page", "message", "contact", "webhook_event", "privacy_request"} <= tables

    rows = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "keys_rotated")).all()
    assert len(rows) >= 5

    # Only the newest key now: everything still decrypts to the same plain values.
    keyring(k3)
    assert _all_plaintexts(conversation) == before
    assert before["token"] == "EAArotatedtoken9876"
    assert crypto.is_current(_raw("message", "text", ids["first_message"]))

    # A second run has nothing left to do.
    again = app.test_cli_runner().invoke(args=["omnicrm", "keys", "status"])
    assert again.exit_code == 0, again.output
    assert "all values are under the current key" in again.output


def test_rotation_stops_clearly_on_an_unreadable_value_and_resumes(app, conversation, keyring):
    k1 = app.config["ENCRYPTION_KEYS"]
    k2, lost = (Fernet.generate_key().decode() for _ in range(2))
    keyring(k1)
    ids = _seed(conversation, 4)
    # One value was written under a key nobody has any more.
    orphan = Fernet(lost.encode()).encrypt(b"orphan").decode()
    db.session.execute(sa.text("UPDATE message SET text = :t WHERE id = :id"), {"t": orphan, "id": ids["last_message"]})
    db.session.commit()

    keyring(k2, k1)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["omnicrm", "keys", "rotate", "--batch-size", "2", "--table", "message"])
    assert result.exit_code != 0
    assert f"message.text (id={ids['last_message']})" in result.output
    assert "ENCRYPTION_KEYS" in result.output
    # The first batch was committed before the failure: those rows are done.
    assert crypto.is_current(_raw("message", "text", ids["first_message"]))

    db.session.execute(sa.text("DELETE FROM message WHERE id = :id"), {"id": ids["last_message"]})
    db.session.commit()
    result = runner.invoke(args=["omnicrm", "keys", "rotate", "--batch-size", "2", "--table", "message"])
    assert result.exit_code == 0, result.output
    # Rows 1-2 were already current: the resumed run re-encrypts only row 3 (text, attachments).
    assert "message: 3/3 rows scanned, 2 value(s) re-encrypted" in result.output


def test_rotation_does_not_overwrite_a_value_changed_meanwhile(app, conversation, keyring):
    k1 = app.config["ENCRYPTION_KEYS"]
    k2 = Fernet.generate_key().decode()
    keyring(k1)
    ids = _seed(conversation, 1)
    keyring(k2, k1)
    spec = next(t for t in keys.encrypted_tables() if t.name == "message")
    old = _raw("message", "text", ids["first_message"])
    newer = crypto.encrypt("edited meanwhile")
    # Simulate the race: the app rewrote the row after rotation read it.
    stmt = sa.text("UPDATE message SET text = :t WHERE id = :id")
    db.session.execute(stmt, {"t": newer, "id": ids["first_message"]})
    db.session.commit()
    t = keys._raw(spec)
    hit = db.session.execute(
        sa.update(t).where(t.c.id == ids["first_message"], t.c.text == old).values(text=crypto.rotate_token(old))
    ).rowcount
    db.session.commit()
    assert hit == 0
    assert crypto.decrypt(_raw("message", "text", ids["first_message"])) == "edited meanwhile"


def test_export_files_are_rotated(app, keyring, tmp_path):

    k1, k2 = (Fernet.generate_key().decode() for _ in range(2))
    keyring(k1)
    old_dir = app.config["EXPORT_DIR"]
    app.config["EXPORT_DIR"] = str(tmp_path)
    try:
        src = tmp_path / "plain.zip"
        src.write_bytes(os.urandom(3000))
        dst = tmp_path / "privacy-1-abc.zip.enc"
        encrypt_file(str(src), str(dst))
        keyring(k2, k1)
        result = app.test_cli_runner().invoke(args=["omnicrm", "keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "export files: 1 found, 1 re-encrypted" in result.output
        keyring(k2)
        assert b"".join(decrypt_file(str(dst))) == src.read_bytes()
        assert (dst.stat().st_mode & 0o777) == 0o600
    finally:
        app.config["EXPORT_DIR"] = old_dir


def test_generate_prints_a_valid_key(app):
    result = app.test_cli_runner().invoke(args=["omnicrm", "keys", "generate"])
    assert result.exit_code == 0
    key = result.output.strip()
    assert Fernet(key.encode()).decrypt(Fernet(key.encode()).encrypt(b"x")) == b"x"
    assert key != app.config["ENCRYPTION_KEYS"]


def _start_app(env_keys: str) -> subprocess.CompletedProcess:
    # the child must open this test run's database, whatever earlier tests did to the environment
    env = {
        **os.environ,
        "ENCRYPTION_KEYS": env_keys,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
    }
    return subprocess.run(
        [sys.executable, "-c", "from app import create_app; create_app(); print('started')"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_startup_refuses_a_key_that_cannot_read_stored_data(app, page):
    wrong = Fernet.generate_key().decode()
    # would lock the child's read, and the check would be skipped as "database not reachable"
    db.session.remove()
    db.engine.dispose()
    proc = _start_app(wrong)
    assert proc.returncode != 0
    assert "CryptoConfigError" in proc.stderr
    assert "ENCRYPTION_KEYS cannot decrypt data already stored (page.access_token" in proc.stderr
    # With the right key after the new one it starts (rotation situation).
    ok = _start_app(f"{wrong},{app.config['ENCRYPTION_KEYS']}")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "started" in ok.stdout


@pytest.mark.parametrize(
    ("value", "message"),
    [("not-a-key", "ENCRYPTION_KEYS key #1 is not a valid Fernet key"), (" , ", "ENCRYPTION_KEYS is empty")],
)
def test_startup_refuses_malformed_keys(value, message):
    proc = _start_app(value)
    assert proc.returncode != 0
    assert message in proc.stderr
