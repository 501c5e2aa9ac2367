"""Inbound attachments: one pending row per file, a job after commit, the file stored encrypted."""

from __future__ import annotations

import hashlib

from rq.job import Job

from app import db
from app.conversations.models import Message
from app.core.queues import get_redis
from app.devtools.fakegraph.cdn import png_bytes
from app.media import inbound, services
from app.media.models import MediaStatus
from tests.helpers import redis_unreachable
from tests.media.media_helpers import attachment, blob_path, media_item, media_rows
from tests.webhooks.webhook_helpers import echo_item, item


def test_each_fetchable_attachment_gets_a_pending_row_and_a_job(cdn, deliver, contact):
    deliver(
        media_item(
            "m_kinds",
            attachment("image", cdn.cdn_url("photo.png")),
            attachment("location", "", coordinates={"lat": 1.0, "long": 2.0}),
            attachment("video", cdn.cdn_url("clip.mp4")),
            attachment("fallback", "https://example.com/article"),
            attachment("audio", cdn.cdn_url("voice.mp3")),
            attachment("file", cdn.cdn_url("invoice.pdf")),
            attachment("template", ""),
        )
    )
    rows = media_rows()
    assert [(r.position, r.media_type, r.status, r.direction) for r in rows] == [
        (0, "image", "pending", "in"),
        (2, "video", "pending", "in"),
        (4, "audio", "pending", "in"),
        (5, "file", "pending", "in"),
    ]
    for row in rows:
        job = Job.fetch(inbound.job_id(row.id), connection=get_redis())
        assert (job.origin, job.func_name, job.args) == ("default", "app.media.tasks.fetch_media", (row.id,))
    assert cdn.cdn_hits() == []  # nothing is fetched on the webhook's path


def test_the_job_stores_the_file_encrypted(cdn, deliver, contact, jobs):
    deliver(media_item("m_photo", attachment("image", cdn.cdn_url("photo.png"))))
    assert jobs(("default",)) == 1
    [row] = media_rows()
    plain = png_bytes("photo.png")
    assert (row.status, row.content_type, row.size) == ("stored", "image/png", len(plain))
    assert row.sha256 == hashlib.sha256(plain).hexdigest()
    assert row.attempts == 1
    assert row.stored_at is not None
    on_disk = blob_path(row.storage_key).read_bytes()
    assert plain not in on_disk  # encrypted at rest
    assert plain[8:40] not in on_disk
    assert b"IHDR" not in on_disk
    assert services.media_urls([row.message_id]) == {row.message_id: {0: f"/media/{row.id}"}}
    assert len(cdn.cdn_hits()) == 1


def test_fetched_once_even_when_the_job_runs_again(cdn, deliver, contact, jobs):
    deliver(media_item("m_once", attachment("image", cdn.cdn_url("once.png"))))
    jobs(("default",))
    [row] = media_rows()
    assert inbound.fetch_one(row.id) == "done"
    assert len(cdn.cdn_hits()) == 1


def test_a_duplicate_delivery_adds_no_second_row(cdn, deliver, contact):
    body = media_item("m_dup", attachment("image", cdn.cdn_url("dup.png")))
    deliver(body)
    deliver(body)
    assert len(media_rows()) == 1


def test_text_messages_fetch_nothing(cdn, deliver, contact):
    deliver(item(message={"mid": "m_text", "text": "hello"}))
    assert media_rows() == []


def test_an_echo_s_file_sent_from_the_page_inbox_is_fetched_too(cdn, deliver, contact, jobs):
    """A file the Page sent from elsewhere arrives only as an echo with a CDN link that expires:
    it is fetched and shown like an inbound one."""
    deliver(echo_item(mid="m_echo", attachments=[attachment("image", cdn.cdn_url("echo.png"))]))
    [row] = media_rows()
    assert (row.direction, row.media_type, row.status) == ("in", "image", "pending")
    assert jobs(("default",)) == 1
    [row] = media_rows()
    assert row.status == "stored"
    assert services.media_urls([row.message_id]) == {row.message_id: {0: f"/media/{row.id}"}}
    message = db.session.get(Message, row.message_id)
    assert (message.direction, message.meta["echo"]) == ("out", True)


def test_our_own_reply_files_are_not_fetched(conversation):
    """Only messages whose files are Meta's links get fetch rows: our replies' files are ours."""
    db.session.add(
        Message(
            conversation_id=conversation.id,
            direction="out",
            attachments=[{"type": "image", "url": "https://scontent.xx.fbcdn.net/ours.png"}],
            status="sent",
        )
    )
    db.session.commit()
    assert media_rows() == []


def test_redis_down_leaves_rows_pending_for_the_sweeper(app, cdn, deliver, contact, jobs):
    deliver(media_item("m_swept_0", attachment("image", cdn.cdn_url("first.png"))))
    jobs(("default",))
    conv_id = media_rows()[0].message_id
    message = db.session.get(Message, conv_id)
    with redis_unreachable(app):
        db.session.add(
            Message(
                conversation_id=message.conversation_id,
                direction="in",
                mid="m_swept",
                attachments=[{"type": "image", "url": cdn.cdn_url("late.png")}],
                status="received",
            )
        )
        db.session.commit()  # the after-commit enqueue fails quietly
    pending = [r for r in media_rows() if r.status == MediaStatus.PENDING]
    assert len(pending) == 1
    assert inbound.sweep_pending(older_than_seconds=3600) == 0  # too young to be called lost
    assert inbound.sweep_pending(older_than_seconds=0) == 1
    assert inbound.sweep_pending(older_than_seconds=0) == 0  # its job is queued now: not twice
    assert jobs(("default",)) == 1
    assert {r.status for r in media_rows()} == {"stored"}
    assert services.media_urls([pending[0].message_id])
