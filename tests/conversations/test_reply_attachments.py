"""Files in replies: checked before queueing, stored encrypted, uploaded once, sent by id, in order."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import pytest

from app import db
from app.conversations import services
from app.conversations.models import Message
from app.core.models import utcnow
from app.media import storage
from app.media.models import MediaFile
from tests.helpers import csrf_token_from, instagram_conversation

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n" + b"1 0 obj << >> endobj\n" * 20 + b"%%EOF\n"
MB = 1000 * 1000
MiB = 1024 * 1024


def _post_file(client, conversation, headers, data=b"", name="photo.png", ctype="image/png", **fields):
    form = {"file": (io.BytesIO(data or PNG), name, ctype), **fields}
    return client.post(
        f"/api/v1/conversation/{conversation.id}/reply", data=form, headers=headers, content_type="multipart/form-data"
    )


def _sends(fakegraph) -> list[dict]:
    return [r for r in fakegraph.requests_log if r["method"] == "POST" and r["path"].endswith("/messages")]


def _blobs(app) -> int:
    root = Path(app.config.get("MEDIA_DIR") or Path(app.instance_path) / "media")
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def _reload(message_id: int) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message_id)


def _retry_due_now(jobs) -> None:
    from app.core.queues import get_queue  # noqa: PLC0415 - test-local helper

    db.session.execute(db.update(Message).values(next_attempt_at=None))
    db.session.commit()
    registry = get_queue("outbound").scheduled_job_registry
    for job_id in registry.get_job_ids():
        registry.requeue(job_id)
    jobs(("outbound",))


def test_api_multipart_stores_uploads_once_and_sends_by_attachment_id(app, client, api, conversation, fakegraph, jobs):
    resp = _post_file(client, conversation, api("agent"))
    assert resp.status_code == 202, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "queued"
    assert body["ids"] == [body["id"]]
    message = db.session.get(Message, body["id"])
    assert message.kind == "attachment"
    assert message.text is None
    assert message.attachments == [{"type": "image", "name": "photo.png"}]
    media = db.session.query(MediaFile).filter_by(message_id=message.id).one()
    assert (media.direction, media.status, media.media_type, media.content_type) == (
        "out",
        "stored",
        "image",
        "image/png",
    )
    assert media.size == len(PNG)
    assert storage.get(media.storage_key) == PNG
    assert PNG[:64] not in (Path(storage.media_dir()) / media.storage_key[:2] / media.storage_key).read_bytes()

    jobs(("outbound",))
    message = _reload(message.id)
    assert message.status == "sent"
    [upload] = fakegraph.attachment_uploads
    assert upload["type"] == "image"
    assert upload["is_reusable"] is True
    assert upload["filename"] == "photo.png"
    assert upload["content_type"] == "image/png"
    assert upload["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert upload["platform"] is None
    assert db.session.get(MediaFile, media.id).attachment_id == upload["attachment_id"]
    [sent] = _sends(fakegraph)
    assert sent["json"]["message"] == {
        "attachment": {"type": "image", "payload": {"attachment_id": upload["attachment_id"]}},
        "metadata": f"omnicrm:{message.id}",
    }
    assert sent["json"]["messaging_type"] == "RESPONSE"


def test_text_with_file_is_two_messages_in_order_with_other_replies(client, api, conversation, fakegraph, jobs):
    first = services.queue_reply(conversation, "first")
    resp = _post_file(
        client,
        conversation,
        api("agent"),
        data=PDF,
        name="invoice.pdf",
        ctype="application/pdf",
        text="see the invoice",
    )
    assert resp.status_code == 202
    text_id, file_id = resp.get_json()["ids"]
    last = services.queue_reply(conversation, "last")
    jobs(("outbound",))
    sends = [s["json"]["message"] for s in _sends(fakegraph)]
    assert [s.get("metadata") for s in sends] == [f"omnicrm:{i}" for i in (first.id, text_id, file_id, last.id)]
    assert sends[1]["text"] == "see the invoice"
    assert sends[2]["attachment"]["type"] == "file"
    assert [_reload(i).status for i in (first.id, text_id, file_id, last.id)] == ["sent"] * 4


def test_retry_after_upload_does_not_upload_again(client, api, conversation, fakegraph, jobs):
    fakegraph.fail_next(613, path="/messages", message="Calls to this api have exceeded the rate limit.")
    resp = _post_file(client, conversation, api("agent"))
    message_id = resp.get_json()["id"]
    jobs(("outbound",))
    message = _reload(message_id)
    assert message.status == "queued"
    assert "retrying in 10 s" in message.error_message
    assert len(fakegraph.attachment_uploads) == 1
    _retry_due_now(jobs)
    assert _reload(message_id).status == "sent"
    assert len(fakegraph.attachment_uploads) == 1
    ids = [s["json"]["message"]["attachment"]["payload"]["attachment_id"] for s in _sends(fakegraph)]
    assert ids == [fakegraph.attachment_uploads[0]["attachment_id"]] * 2


def test_upload_failure_retries_without_sending_and_holds_later_replies(client, api, conversation, fakegraph, jobs):
    fakegraph.fail_next(2, path="/message_attachments", message="temporary")
    file_id = _post_file(client, conversation, api("agent")).get_json()["id"]
    later = services.queue_reply(conversation, "after the file")
    jobs(("outbound",))
    assert _reload(file_id).status == "queued"
    assert _reload(later.id).status == "queued"  # never overtakes the file
    assert _sends(fakegraph) == []
    _retry_due_now(jobs)
    assert [_reload(i).status for i in (file_id, later.id)] == ["sent", "sent"]
    assert len(fakegraph.attachment_uploads) == 1


def test_permanent_upload_error_fails_with_the_reason(client, api, conversation, fakegraph, jobs):
    fakegraph.fail_next(100, path="/message_attachments", message="(#100) Upload attachment failure.")
    file_id = _post_file(client, conversation, api("agent")).get_json()["id"]
    jobs(("outbound",))
    message = _reload(file_id)
    assert message.status == "failed"
    assert message.error_code == "100"
    assert "Upload attachment failure" in message.error_message
    assert _sends(fakegraph) == []


def test_form_upload_from_the_reply_box_and_thread_shows_the_file_escaped(
    client, login_as, conversation, fakegraph, jobs
):
    login_as("agent")
    page = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page
    assert 'name="file"' in page
    form = {"csrf_token": csrf_token_from(page), "text": "", "file": (io.BytesIO(PDF), "a<b>&.pdf", "application/pdf")}
    resp = client.post(f"/conversations/{conversation.id}/reply", data=form, content_type="multipart/form-data")
    assert resp.status_code == 302
    message = db.session.query(Message).filter_by(kind="attachment").one()
    assert message.attachments == [{"type": "file", "name": "a<b>&.pdf"}]
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "a&lt;b&gt;&amp;.pdf" in html
    assert "a<b>&.pdf" not in html
    poll = client.get(f"/conversations/{conversation.id}/poll").get_json()
    [shown] = [m for m in poll["messages"] if m["id"] == message.id]
    assert shown["files"][0]["name"] == "a<b>&.pdf"
    assert shown["files"][0]["type"] == "file"
    jobs(("outbound",))
    assert _reload(message.id).status == "sent"


def test_form_refusal_keeps_the_draft_and_answers_the_status(app, client, login_as, conversation):
    login_as("agent")
    token = csrf_token_from(client.get(f"/conversations/{conversation.id}").get_data(as_text=True))
    before = _blobs(app)
    form = {
        "csrf_token": token,
        "text": "my draft",
        "file": (io.BytesIO(b"MZ\x90\x00"), "tool.exe", "application/x-msdownload"),
    }
    resp = client.post(f"/conversations/{conversation.id}/reply", data=form, content_type="multipart/form-data")
    assert resp.status_code == 415
    html = resp.get_data(as_text=True)
    assert "files of this type cannot be sent" in html
    assert "my draft" in html
    assert db.session.query(Message).count() == 0
    assert _blobs(app) == before


@pytest.mark.parametrize(
    ("name", "ctype", "data", "status", "reason"),
    [
        ("tool.exe", "application/octet-stream", b"MZ\x90\x00" * 10, 415, "files of this type cannot be sent"),
        ("page.html", "text/html", b"<script>alert(1)</script>", 415, "files of this type cannot be sent"),
        ("drawing.svg", "image/svg+xml", b"<svg onload=alert(1)>", 415, "files of this type cannot be sent"),
        ("photo.png", "image/png", PDF, 415, "the file's content is not a .png file"),
        ("photo.png", "text/html", PNG, 415, "the file's content type (text/html) does not match .png"),
        ("notes.txt", "text/plain", b"abc\x00def", 415, "the file's content is not a .txt file"),
        ("noextension", "application/octet-stream", PNG, 415, "files of this type cannot be sent"),
        ("empty.png", "image/png", b"", 400, "the file is empty"),
    ],
)
def test_bad_files_are_refused_before_anything_is_written(
    app, client, api, conversation, name, ctype, data, status, reason
):
    before = _blobs(app)
    form = {"file": (io.BytesIO(data), name, ctype)}
    resp = client.post(
        f"/api/v1/conversation/{conversation.id}/reply",
        data=form,
        headers=api("agent"),
        content_type="multipart/form-data",
    )
    assert resp.status_code == status
    assert reason in resp.get_json()["message"]
    assert db.session.query(Message).count() == 0
    assert db.session.query(MediaFile).count() == 0
    assert _blobs(app) == before


def test_multipart_without_file_or_with_bad_flag_is_400(client, api, conversation):
    url = f"/api/v1/conversation/{conversation.id}/reply"
    resp = client.post(url, data={"text": "hi"}, headers=api("agent"), content_type="multipart/form-data")
    assert resp.status_code == 400
    assert "'file' part" in resp.get_json()["message"]
    resp = _post_file(client, conversation, api("agent"), human_agent="maybe")
    assert resp.status_code == 400
    assert resp.get_json()["message"] == "human_agent must be true or false"
    assert db.session.query(Message).count() == 0


def test_json_reply_still_works(client, api, conversation):
    resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": "plain"}, headers=api("agent"))
    assert resp.status_code == 202
    assert db.session.get(Message, resp.get_json()["id"]).text == "plain"


def test_size_limits_route_specific_25_mb_and_413_json(app, client, api, conversation):
    headers = api("agent")
    assert app.config["ATTACHMENT_MAX_BYTES"] == 25 * MB
    # above the 4 MiB cap of every other request: accepted here
    big = PNG + b"\x00" * (5 * MiB)
    assert _post_file(client, conversation, headers, data=big).status_code == 202
    # the file one byte over 25 MB: refused by the check, with the sizes
    over = PNG + b"\x00" * (25 * MB + 1 - len(PNG))
    resp = _post_file(client, conversation, headers, data=over)
    assert resp.status_code == 413
    assert resp.get_json()["message"] == f"the file is {25 * MB + 1} bytes; at most {25 * MB} bytes can be sent"
    # a body beyond the route's own limit: 413 before anything is read
    huge = b"\x00" * (app.config["REPLY_UPLOAD_MAX_BODY"] + 1)
    resp = _post_file(client, conversation, headers, data=huge)
    assert resp.status_code == 413
    limit = app.config["REPLY_UPLOAD_MAX_BODY"]
    assert resp.get_json() == {"error": f"request body too large (limit {limit} bytes)", "limit": limit}
    assert db.session.query(Message).count() == 1
    # a JSON body on the same route keeps MAX_CONTENT_LENGTH: only uploads get the larger limit
    resp = client.post(
        f"/api/v1/conversation/{conversation.id}/reply",
        data=b'{"text": "' + b"a" * (5 * MiB) + b'"}',
        headers=headers,
        content_type="application/json",
    )
    assert resp.status_code == 413
    assert resp.get_json()["limit"] == 4 * MiB
    # other routes keep MAX_CONTENT_LENGTH
    resp = client.post(
        "/api/v1/canned_reply/",
        data={"f": (io.BytesIO(big), "x.png")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert resp.status_code == 413
    assert resp.get_json()["limit"] == 4 * MiB


def test_window_closed_refuses_before_storing(app, client, api, conversation):
    contact = conversation.contact
    contact.last_inbound_at = conversation.last_inbound_at = utcnow() - timedelta(days=3)
    db.session.commit()
    before = _blobs(app)
    resp = _post_file(client, conversation, api("agent"))
    assert resp.status_code == 422
    assert "only allows replies within 24 hours" in resp.get_json()["message"]
    assert db.session.query(Message).count() == 0
    assert _blobs(app) == before


def test_human_agent_tag_applies_to_files(app, client, api, conversation, fakegraph, jobs):
    app.config["HUMAN_AGENT_TAG_ENABLED"] = True
    try:
        contact = conversation.contact
        contact.last_inbound_at = conversation.last_inbound_at = utcnow() - timedelta(days=2)
        db.session.commit()
        resp = _post_file(client, conversation, api("agent"), human_agent="true")
        assert resp.status_code == 202
        jobs(("outbound",))
        [sent] = _sends(fakegraph)
        assert (sent["json"]["messaging_type"], sent["json"]["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    finally:
        app.config["HUMAN_AGENT_TAG_ENABLED"] = False


def test_instagram_upload_names_the_platform_and_keeps_its_limits(client, api, page, fakegraph, jobs):
    conversation = instagram_conversation(page)
    headers = api("agent")
    docx = b"PK\x03\x04" + b"\x00" * 100
    resp = _post_file(client, conversation, headers, data=docx, name="a.docx", ctype="application/octet-stream")
    assert resp.status_code == 415
    assert "Instagram does not take .docx files" in resp.get_json()["message"]
    resp = _post_file(client, conversation, headers, data=PNG + b"\x00" * (8 * MB), name="big.png")
    assert resp.status_code == 413
    assert "Instagram takes images up to 8000000 bytes" in resp.get_json()["message"]
    resp = _post_file(client, conversation, headers, data=PDF, name="menu.pdf", ctype="application/pdf")
    assert resp.status_code == 202
    jobs(("outbound",))
    [upload] = fakegraph.attachment_uploads
    assert (upload["platform"], upload["type"]) == ("instagram", "file")
    [sent] = _sends(fakegraph)
    assert sent["json"]["recipient"] == {"id": conversation.contact.psid}


def test_agent_without_reply_permission_cannot_upload(client, api, conversation):
    resp = _post_file(client, conversation, api("privacy"))
    assert resp.status_code == 403
    assert db.session.query(Message).count() == 0
