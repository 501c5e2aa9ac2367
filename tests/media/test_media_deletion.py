"""Files leave the store with their messages: erasure, retention, unsend, a deleted message."""

from __future__ import annotations

import os
import time
from datetime import timedelta

from sqlalchemy import func, select

from app import db
from app.conversations.models import Message
from app.core.models import utcnow
from app.devtools.fakegraph.cdn import png_bytes
from app.media import inbound, storage
from app.media.models import MediaFile
from app.privacy import retention
from app.privacy.erasure import erase_contact
from tests.helpers import post_signed_webhook
from tests.media.media_helpers import blob_path, media_rows, stored_file
from tests.webhooks.webhook_helpers import IG_ID, IGSID, ig_item, ig_payload, now_ms


def _count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(MediaFile.id)))


def test_erasure_removes_the_files(cdn, contact, conversation):
    rows = [stored_file(conversation, cdn.cdn_url(f"erase{i}.png")) for i in range(3)]
    paths = [blob_path(r.storage_key) for r in rows]
    assert all(p.is_file() for p in paths)
    erase_contact(contact)
    assert [p.is_file() for p in paths] == [False, False, False]
    assert _count() == 0


def test_retention_removes_old_files_only(cdn, page, conversation):
    now = utcnow()
    old = stored_file(conversation, cdn.cdn_url("old.png"), created_at=now - timedelta(days=400))
    new = stored_file(conversation, cdn.cdn_url("new.png"), created_at=now - timedelta(days=3))
    old_path, new_path = blob_path(old.storage_key), blob_path(new.storage_key)
    retention.run_retention(now)
    assert not old_path.is_file()
    assert new_path.is_file()
    assert [r.id for r in media_rows()] == [new.id]


def test_deleting_a_message_removes_its_file(cdn, conversation):
    row = stored_file(conversation, cdn.cdn_url("grid.png"))
    path = blob_path(row.storage_key)
    db.session.delete(db.session.get(Message, row.message_id))
    db.session.commit()
    assert not path.is_file()
    assert _count() == 0


def test_unsend_removes_the_file(app, cdn, page, client, jobs):
    page.ig_account_id = IG_ID
    db.session.commit()

    def post(body):
        resp = post_signed_webhook(client, body)
        assert resp.status_code == 200
        jobs()

    ts = now_ms()
    attachment = {"type": "image", "payload": {"url": cdn.cdn_url("regret.png")}}
    post(ig_payload(ig_item(IGSID, ts=ts, message={"mid": "m_regret", "attachments": [attachment]})))
    [row] = media_rows()
    assert row.status == "stored"
    path = blob_path(row.storage_key)
    assert path.is_file()
    post(ig_payload(ig_item(IGSID, ts=ts + 1, message={"mid": "m_regret", "is_deleted": True})))
    assert not path.is_file()
    assert _count() == 0
    msg = db.session.scalar(select(Message).where(Message.mid == "m_regret"))
    assert (msg.kind, msg.attachments) == ("unsent", None)


def test_a_fetch_finishing_after_the_unsend_keeps_nothing(cdn, conversation):
    msg = Message(
        conversation_id=conversation.id,
        direction="in",
        attachments=[{"type": "image", "url": cdn.cdn_url("race.png")}],
        status="received",
    )
    db.session.add(msg)
    db.session.commit()
    media_id = media_rows()[0].id
    got = inbound.fetch(cdn.cdn_url("race.png"), "image", f"{cdn.base_url.split('://')[1]}")
    db.session.execute(MediaFile.__table__.delete())  # the unsend won the race
    db.session.commit()
    before = {p.name for p in blob_path("xx").parent.parent.rglob("*") if p.is_file()}
    assert inbound.store_fetched(media_id, got, 1) == "dropped"
    after = {p.name for p in blob_path("xx").parent.parent.rglob("*") if p.is_file()}
    assert after == before  # the blob it wrote is gone again


def test_deleting_the_conversation_removes_its_files(cdn, conversation):
    row = stored_file(conversation, cdn.cdn_url("conv.png"))
    path = blob_path(row.storage_key)
    db.session.delete(conversation)
    db.session.commit()
    assert not path.is_file()
    assert _count() == 0


def test_the_orphan_sweep_removes_old_blobs_no_row_names(app, cdn, conversation):
    """A crash between writing a file and committing its row leaves a blob nobody can reach:
    the daily job removes it (and temporary leftovers) once a day old, and nothing else."""
    named = stored_file(conversation, cdn.cdn_url("kept.png"))
    orphan, fresh = storage.put(b"orphan"), storage.put(b"still being committed")
    leftover = blob_path(orphan).with_name("abandoned.tmp")
    leftover.write_bytes(b"half written")
    day_ago = time.time() - 25 * 3600
    for path in (blob_path(named.storage_key), blob_path(orphan), leftover):
        os.utime(path, (day_ago, day_ago))
    result = app.test_cli_runner().invoke(args=["omnicrm", "jobs", "run", "sweep_orphan_media"])
    assert result.exit_code == 0, result.output
    assert not blob_path(orphan).exists()
    assert not leftover.exists()
    assert storage.get(named.storage_key) == png_bytes("kept.png")
    assert storage.get(fresh) == b"still being committed"
