"""`GET /media/<id>`: who may download a stored file, and how it is served."""

from __future__ import annotations

import pytest

from app import db
from app.conversations.models import Message
from app.devtools.fakegraph.cdn import body_for, png_bytes
from tests.media.media_helpers import blob_path, media_rows, stored_file


@pytest.mark.parametrize(("username", "status"), [("admin", 200), ("manager", 200), ("agent", 200), ("privacy", 403)])
def test_roles_that_read_conversations_download(cdn, conversation, login_as, username, status):
    row = stored_file(conversation, cdn.cdn_url("shown.png"))
    resp = login_as(username).get(f"/media/{row.id}")
    assert resp.status_code == status
    if status == 200:
        assert resp.data == png_bytes("shown.png")
    else:
        assert png_bytes("shown.png") not in resp.data


def test_anonymous_is_sent_to_login(cdn, conversation, client):
    row = stored_file(conversation, cdn.cdn_url("private.png"))
    resp = client.get(f"/media/{row.id}")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


def test_the_rest_api_token_alone_is_not_enough(cdn, conversation, client, api):
    row = stored_file(conversation, cdn.cdn_url("jwt.png"))
    resp = client.get(f"/media/{row.id}", headers=api("agent"))
    assert resp.status_code == 302  # a browser view: the session decides, not a JWT


def test_image_is_served_inline_with_safe_headers(cdn, conversation, login_as):
    row = stored_file(conversation, cdn.cdn_url("inline.png"))
    resp = login_as("agent").get(f"/media/{row.id}")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Disposition"] == f'inline; filename="media-{row.id}"'
    assert resp.headers["Cache-Control"].startswith("private")
    assert "sandbox" in resp.headers["Content-Security-Policy"]


@pytest.mark.parametrize(("name", "ctype"), [("report.pdf", "application/pdf"), ("notes.txt", "text/plain")])
def test_files_are_downloads(cdn, conversation, login_as, name, ctype):
    row = stored_file(conversation, cdn.cdn_url(name), kind="file")
    resp = login_as("agent").get(f"/media/{row.id}")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].split(";")[0] == ctype
    assert resp.headers["Content-Disposition"] == f'attachment; filename="media-{row.id}"'
    assert resp.data == body_for(name, name.rsplit(".", 1)[1])


def test_unknown_pending_and_lost_files_are_404(cdn, conversation, login_as):
    client = login_as("agent")
    assert client.get("/media/999999").status_code == 404
    db.session.add(
        Message(
            conversation_id=conversation.id,
            direction="in",
            attachments=[{"type": "image", "url": "https://x.fbcdn.net/a.png"}],
            status="received",
        )
    )
    db.session.commit()
    [pending] = media_rows()
    assert client.get(f"/media/{pending.id}").status_code == 404
    row = stored_file(conversation, cdn.cdn_url("lost.png"))
    blob_path(row.storage_key).unlink()
    assert client.get(f"/media/{row.id}").status_code == 404
