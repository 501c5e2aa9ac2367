"""Restore drill (PostgreSQL): pg_dump -Fc, pg_restore into a fresh database, a second app on it.

What docs/operations.md promises: the database plus its keys is a whole installation. The
restored copy verifies its audit chain, decrypts messages, keeps an erased person erased (a
late retry of their old webhook event is still discarded) and `flask omnicrm doctor` says OK.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app import db
from app.contacts.models import Contact
from app.privacy import decisions, requests
from app.privacy.models import PrivacyRequest
from app.webhooks.ingest import sign

ROOT = Path(__file__).resolve().parents[2]
ERASED_PSID = "6100200300999"
LIVE_PSID = "6100200300111"
LIVE_TEXT = "restored words 5511"

# Runs in the second app's own process, pointed at the restored database.
CHILD = """
import json, sys
from sqlalchemy import func, select
from tests.helpers import run_jobs
from app import create_app, db
from app.audit.verify import verify_chain
from app.contacts.models import Contact
from app.conversations.models import Message
from app.webhooks.models import WebhookEvent
from app.webhooks.ingest import sign

app = create_app({"SERVER_NAME": None})
late_body = sys.argv[1].encode()
with app.app_context():
    out = {"db": db.engine.url.database, "verify": verify_chain().ok}
    out["texts"] = sorted(db.session.scalars(select(Message.text)))
    erased = db.session.scalars(select(Contact).where(Contact.erased_at.is_not(None))).all()
    out["erased"] = [(c.psid, c.first_name, bool(c.psid_hash)) for c in erased]
    counts = lambda: [db.session.scalar(select(func.count()).select_from(m)) for m in (Contact, Message, WebhookEvent)]
    out["before"] = counts()
    signature = sign(late_body, app.config["FB_APP_SECRET"])
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    resp = app.test_client().post("/webhooks/messenger", data=late_body, headers=headers)
    out["status"] = resp.status_code
    run_jobs()
    db.session.expire_all()
    out["after"] = counts()
    out["verify_after"] = verify_chain().ok
print(json.dumps(out))
"""


def body(page_fb_id: str, psid: str, mid: str, words: str) -> bytes:
    now = int(time.time() * 1000)
    event = {"sender": {"id": psid}, "recipient": {"id": page_fb_id}, "timestamp": now}
    event["message"] = {"mid": mid, "text": words}
    return json.dumps({"object": "page", "entry": [{"id": page_fb_id, "time": now, "messaging": [event]}]}).encode()


def post(client, app, data: bytes) -> None:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(data, app.config["FB_APP_SECRET"])}
    assert client.post("/webhooks/messenger", data=data, headers=headers).status_code == 200


def _admin_engine():
    return create_engine(db.engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")


def test_pg_dump_and_restore_gives_a_whole_installation(app, client, page, fakegraph, jobs, tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("restore drill uses pg_dump/pg_restore: PostgreSQL only")
    if not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not installed")
    erased_bodies = [body(page.fb_page_id, ERASED_PSID, f"mid.drill.{i}", f"secret {i} 9137") for i in range(2)]
    for data in [*erased_bodies, body(page.fb_page_id, LIVE_PSID, "mid.drill.live", LIVE_TEXT)]:
        post(client, app, data)
    jobs()
    sm = app.appbuilder.sm
    contact = db.session.query(Contact).filter_by(psid=ERASED_PSID).one()
    req = requests.create_request("erasure", contact, requested_by_id=sm.find_user(username="agent").id)
    decisions.approve(req, sm.find_user(username="privacy").id)
    jobs()
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).status == "complete"
    db.session.remove()

    source = db.engine.url
    restored_name = f"{source.database}_restore"
    dsn = source.set(drivername="postgresql").render_as_string(hide_password=False)
    restored_dsn = source.set(drivername="postgresql", database=restored_name).render_as_string(hide_password=False)
    dump = tmp_path / "omnicrm.dump"
    admin = _admin_engine()
    try:
        subprocess.run(["pg_dump", "-Fc", "-f", str(dump), dsn], check=True, capture_output=True)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{restored_name}"'))
        subprocess.run(
            ["pg_restore", "--exit-on-error", "-d", restored_dsn, str(dump)], check=True, capture_output=True
        )
        env = {**os.environ, "DATABASE_URL": restored_dsn, "GRAPH_API_BASE": app.config["GRAPH_API_BASE"]}
        child = subprocess.run(
            [sys.executable, "-c", CHILD, erased_bodies[0].decode()],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert child.returncode == 0, child.stderr[-3000:]
        out = json.loads(child.stdout.strip().splitlines()[-1])
        doctor = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "run", "omnicrm", "doctor"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)'))
        admin.dispose()

    assert out["db"] == restored_name
    assert out["verify"]
    assert out["verify_after"]
    assert out["texts"] == [LIVE_TEXT]  # messages decrypt with the same ENCRYPTION_KEYS
    assert out["erased"] == [[None, None, True]]  # a tombstone: no PSID, no name, the keyed hash kept
    assert out["status"] == 200
    assert out["after"] == out["before"]
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    lines = doctor.stdout.strip().splitlines()
    assert len(lines) == 6, doctor.stdout  # migrations, keys, audit, psid_hash_key, redis, mail
    assert all(line.startswith("OK") for line in lines), doctor.stdout
