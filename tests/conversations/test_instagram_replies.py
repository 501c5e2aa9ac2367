"""Replies to Instagram conversations: the 1,000-character limit, the windows, the Send API call
with the IGSID, Graph errors mapped like Messenger's, and the profile with the @username."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import db
from app.contacts.models import Contact
from app.conversations import services
from app.conversations.models import Message
from app.core.models import utcnow
from app.core.queues import enqueue
from tests.helpers import csrf_token_from, instagram_conversation

IGSID = "1122334455667788"


@pytest.fixture
def ig_conv(page):
    return instagram_conversation(page, igsid=IGSID)


def _sends(fakegraph) -> list[dict]:
    return [r for r in fakegraph.requests_log if r["method"] == "POST" and r["path"].endswith("/messages")]


def _reload(message: Message) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message.id)


def test_1000_characters_accepted_1001_refused(ig_conv):
    assert services.queue_reply(ig_conv, "x" * 1000).status == "queued"
    with pytest.raises(services.ReplyRefused, match="1001 characters long; Instagram allows at most 1000"):
        services.queue_reply(ig_conv, "x" * 1001)


def test_messenger_still_takes_2000(conversation):
    assert services.queue_reply(conversation, "x" * 2000).status == "queued"


def test_view_flashes_the_limit_and_the_box_follows_the_channel(login_as, ig_conv):
    client = login_as("agent")
    html = client.get(f"/conversations/{ig_conv.id}").get_data(as_text=True)
    assert 'maxlength="1000"' in html
    resp = client.post(
        f"/conversations/{ig_conv.id}/reply",
        data={"text": "y" * 1001, "csrf_token": csrf_token_from(html)},
    )
    assert resp.status_code == 422  # the page again, with the draft kept
    assert "Instagram allows at most 1000" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Message).where(Message.direction == "out")) is None


def test_messenger_reply_box_keeps_2000(login_as, conversation):
    html = login_as("agent").get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'maxlength="2000"' in html


def test_api_answers_400_for_too_long(api, client, ig_conv):
    resp = client.post(f"/api/v1/conversation/{ig_conv.id}/reply", json={"text": "z" * 1001}, headers=api("agent"))
    assert resp.status_code == 400
    assert "Instagram allows at most 1000" in resp.get_json()["message"]
    assert db.session.scalar(select(Message).where(Message.direction == "out")) is None


def test_reply_goes_to_the_page_messages_endpoint_with_the_igsid(ig_conv, fakegraph, jobs):
    message = services.queue_reply(ig_conv, "Thanks for the mention!")
    jobs(("outbound",))
    message = _reload(message)
    assert (message.status, message.messaging_type) == ("sent", "RESPONSE")
    [sent] = _sends(fakegraph)
    assert sent["path"] == f"/v25.0/{ig_conv.page.fb_page_id}/messages"
    assert sent["json"]["recipient"] == {"id": IGSID}
    assert sent["json"]["message"]["text"] == "Thanks for the mention!"
    assert "appsecret_proof" in sent["query"]


def test_human_agent_tag_after_24_hours_and_nothing_after_7_days(ig_conv, fakegraph, jobs, app, monkeypatch):
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", True)
    ig_conv.contact.last_inbound_at = ig_conv.last_inbound_at = utcnow() - timedelta(days=3)
    db.session.commit()
    with pytest.raises(services.ReplyRefused, match=r"more than 24 hours\. Instagram only allows a personal reply"):
        services.queue_reply(ig_conv, "late")
    message = services.queue_reply(ig_conv, "late but personal", human_agent=True)
    jobs(("outbound",))
    [sent] = _sends(fakegraph)
    assert (sent["json"]["messaging_type"], sent["json"]["tag"]) == ("MESSAGE_TAG", "HUMAN_AGENT")
    assert _reload(message).status == "sent"
    ig_conv.contact.last_inbound_at = ig_conv.last_inbound_at = utcnow() - timedelta(days=8)
    db.session.commit()
    with pytest.raises(services.ReplyRefused, match=r"8 days ago\. Instagram only allows replies within 24"):
        services.queue_reply(ig_conv, "too late", human_agent=True)


def test_outside_window_error_fails_with_the_reason(ig_conv, fakegraph, jobs):
    fakegraph.fail_next(10, subcode=2534022, message="(#10) This message is sent outside of allowed window.")
    message = _reload(services.queue_reply(ig_conv, "hello"))
    jobs(("outbound",))
    message = _reload(message)
    assert (message.status, message.error_code) == ("failed", "10")
    assert "outside of allowed window" in message.error_message
    assert len(_sends(fakegraph)) == 1


def test_rate_limit_is_retried_later(ig_conv, fakegraph, jobs):
    fakegraph.fail_next(4, message="(#4) Application request limit reached")
    message = services.queue_reply(ig_conv, "hello")
    jobs(("outbound",))
    message = _reload(message)
    assert (message.status, message.attempts) == ("queued", 1)
    assert message.next_attempt_at is not None


def test_expired_token_asks_for_reauthorisation(ig_conv, fakegraph, jobs):
    fakegraph.fail_next(190, message="Error validating access token: Session has expired")
    message = services.queue_reply(ig_conv, "hello")
    jobs(("outbound",))
    assert _reload(message).status == "failed"
    assert ig_conv.page.needs_reauth is True


def test_profile_fills_name_and_username(ig_conv, fakegraph, jobs):
    contact = ig_conv.contact
    contact.first_name = contact.last_name = contact.username = None
    db.session.commit()
    profile = {"name": "Lea Larsen", "username": "lea.bikes", "profile_pic": "https://example.invalid/lea.jpg"}
    fakegraph.instagram_user(IGSID, "17841400000000001", profile)
    enqueue("app.contacts.tasks.fetch_profile", contact.id, queue="default")
    jobs(("default",))
    db.session.expire_all()
    contact = db.session.get(Contact, contact.id)
    assert (contact.first_name, contact.last_name, contact.username) == ("Lea", "Larsen", "lea.bikes")
    assert contact.profile_pic == "https://example.invalid/lea.jpg"
    [req] = [r for r in fakegraph.requests_log if r["method"] == "GET"]
    assert req["path"] == f"/v25.0/{IGSID}"
    assert req["query"]["fields"] == "name,username,profile_pic"


def test_profile_failure_is_soft(ig_conv, fakegraph, jobs):
    contact = ig_conv.contact
    contact.first_name = contact.last_name = contact.username = None
    db.session.commit()
    fakegraph.profile_error(230, message="(#230) User consent is required to access user profile")
    enqueue("app.contacts.tasks.fetch_profile", contact.id, queue="default")
    jobs(("default",))
    db.session.expire_all()
    contact = db.session.get(Contact, contact.id)
    assert contact.username is None
    assert contact.display_name == "Instagram user 7788"


def test_card_shows_the_username_and_the_channel(login_as, ig_conv):
    html = login_as("agent").get(f"/conversations/{ig_conv.id}").get_data(as_text=True)
    assert "@noor.h" in html
    assert 'data-channel="instagram"' in html
    assert "Instagram" in html


def test_messenger_card_has_the_messenger_label(login_as, conversation):
    html = login_as("agent").get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'data-channel="messenger"' in html
    assert "contact-username" not in html
