"""Instagram stories vanish after 24 hours: the story a person mentions us in, and our story
they reply to, are fetched like any attachment and linked as a "saved copy"."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.conversations.models import Conversation
from tests.helpers import post_signed_webhook
from tests.media.media_helpers import media_rows
from tests.webhooks.webhook_helpers import IG_ID, IGSID, ig_item, ig_payload, now_ms


def _deliver_ig(client, jobs, *items) -> None:
    resp = post_signed_webhook(client, ig_payload(*items))
    assert resp.status_code == 200
    jobs()


def test_a_story_mention_and_a_replied_story_are_stored_and_linked(app, cdn, page, client, login_as, jobs):
    page.ig_account_id = IG_ID
    db.session.commit()
    ts = now_ms()
    mention = {"type": "story_mention", "payload": {"url": cdn.cdn_url("mention.mp4")}}
    story = {"url": cdn.cdn_url("ours.png"), "id": "17950000000000001"}
    _deliver_ig(
        client,
        jobs,
        ig_item(IGSID, ts=ts, message={"mid": "ig_mention", "attachments": [mention]}),
        ig_item(IGSID, ts=ts + 1, message={"mid": "ig_reply", "text": "Love it", "reply_to": {"story": story}}),
    )
    rows = media_rows()
    assert [(r.media_type, r.status, r.content_type) for r in rows] == [
        ("story_mention", "stored", "video/mp4"),
        ("story", "stored", "image/png"),
    ]
    conv = db.session.scalar(select(Conversation))
    html = login_as("agent").get(f"/conversations/{conv.id}").get_data(as_text=True)
    for row in rows:
        assert f'<a href="/media/{row.id}" class="msg-story-copy"' in html
    assert html.count("open the story") == 2


def test_a_story_that_is_not_a_picture_or_video_is_refused(app, cdn, page, client, jobs):
    page.ig_account_id = IG_ID
    db.session.commit()
    mention = {"type": "story_mention", "payload": {"url": cdn.cdn_url("page.html")}}
    _deliver_ig(client, jobs, ig_item(IGSID, ts=now_ms(), message={"mid": "ig_html", "attachments": [mention]}))
    [row] = media_rows()
    assert (row.status, row.storage_key) == ("rejected", None)
    assert "content type text/html does not fit a story_mention attachment" in row.error
