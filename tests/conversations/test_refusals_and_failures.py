"""Reply refusals in the agent's language (draft kept, Send disabled) and failed-send reasons."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import db
from app.conversations import failures, refusals, services
from app.conversations.models import Message
from app.core.models import utcnow
from tests.helpers import csrf_token_from


def _last_inbound(conversation, ago: timedelta) -> None:
    conversation.contact.last_inbound_at = conversation.last_inbound_at = utcnow() - ago
    db.session.commit()


def _failed(conversation, code: str, text: str = "hello") -> Message:
    message = Message(
        conversation_id=conversation.id,
        direction="out",
        text=text,
        status="failed",
        error_code=code,
        error_message=f"Messenger refused the message: (#{code}) raw graph text",
    )
    db.session.add(message)
    db.session.commit()
    return message


def test_ago_reads_like_a_person_would_say_it():
    assert refusals.ago(timedelta(days=3, hours=2)) == "3 days"
    assert refusals.ago(timedelta(hours=26)) == "26 hours"
    assert refusals.ago(timedelta(hours=1)) == "1 hour"
    assert refusals.ago(timedelta(minutes=5)) == "5 minutes"


def test_closed_window_refusal_speaks_plainly_and_names_no_setting(app, conversation, monkeypatch):
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", False)
    _last_inbound(conversation, timedelta(days=3, minutes=5))
    with pytest.raises(services.ReplyRefused) as refused:
        services.queue_reply(conversation, "late")
    text = str(refused.value)
    assert text.startswith("This customer last wrote 3 days ago. Messenger only allows replies within 24 hours")
    assert "HUMAN_AGENT" not in text
    assert services.reply_block(conversation) == text


def test_reply_block_is_none_while_a_reply_is_possible(app, conversation, monkeypatch):
    assert services.reply_block(conversation) is None
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", True)
    _last_inbound(conversation, timedelta(days=2))
    assert services.reply_block(conversation) is None  # a personal reply is still possible
    _last_inbound(conversation, timedelta(days=8))
    assert "8 days ago" in services.reply_block(conversation)
    conversation.contact.last_inbound_at = conversation.last_inbound_at = None
    db.session.commit()
    assert services.reply_block(conversation) == refusals.never_wrote("messenger")


def test_reply_block_names_a_page_or_contact_precondition(conversation):
    conversation.contact.restricted = True
    db.session.commit()
    assert "restricted" in services.reply_block(conversation)


def test_view_disables_send_with_the_reason(app, login_as, conversation, monkeypatch):
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", False)
    _last_inbound(conversation, timedelta(days=3))
    html = login_as("agent").get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="reply-send" disabled' in html
    assert 'id="reply-blocked"' in html
    assert "This customer last wrote 3 days ago" in html
    assert "HUMAN_AGENT_TAG_ENABLED" not in html


def test_refused_reply_keeps_the_draft_without_javascript(app, login_as, conversation, monkeypatch):
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", True)
    _last_inbound(conversation, timedelta(days=2))
    client = login_as("agent")
    token = csrf_token_from(client.get(f"/conversations/{conversation.id}").get_data(as_text=True))
    draft = "Sorry for the wait <b>Ada</b>, here is your answer"
    resp = client.post(f"/conversations/{conversation.id}/reply", data={"text": draft, "csrf_token": token})
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "Sorry for the wait &lt;b&gt;Ada&lt;/b&gt;, here is your answer</textarea>" in html
    assert "personal reply written by you" in html
    assert db.session.scalar(select(Message)) is None


def test_api_refusal_uses_the_same_wording(api, client, app, conversation, monkeypatch):
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", False)
    _last_inbound(conversation, timedelta(days=3))
    resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": "hi"}, headers=api("agent"))
    assert resp.status_code == 422
    assert resp.get_json()["message"] == services.reply_block(conversation)


@pytest.mark.parametrize(
    ("code", "kind", "retryable", "words"),
    [
        ("551", "unavailable", False, "isn't available"),
        ("100", "unavailable", False, "isn't available"),
        ("10", "not_allowed", False, "doesn't allow"),
        ("190", "reauth", True, "ask an Admin"),
        ("page_needs_reauth", "reauth", True, "ask an Admin"),
        ("613", "rate_limited", True, "retry automatically"),
        ("2", "temporary", True, "temporary"),
        ("503", "temporary", True, "temporary"),
        ("invalid", "invalid", False, "can't be sent as written"),
        ("refused", "blocked", True, "stopped before sending"),
        ("unknown_outcome", "unknown_outcome", True, "Check the conversation"),
        ("weird", "other", False, "refused"),
        (None, "other", False, "refused"),
    ],
)
def test_failure_classes(code, kind, retryable, words):
    failure = failures.explain(code)
    assert (failure.kind, failure.retryable) == (kind, retryable)
    assert words.lower() in failure.reason.lower()


def test_failed_message_shows_plain_reason_details_and_retry_only_when_it_helps(login_as, conversation):
    permanent = _failed(conversation, "551", "perm")
    temporary = _failed(conversation, "unknown_outcome", "maybe")
    html = login_as("agent").get(f"/conversations/{conversation.id}").get_data(as_text=True)
    perm_html = html[html.index(f'id="msg-{permanent.id}"') : html.index(f'id="msg-{temporary.id}"')]
    temp_html = html[html.index(f'id="msg-{temporary.id}"') :]
    assert "isn&#39;t available on Messenger" in perm_html
    assert "<details" in perm_html
    assert "raw graph text" in perm_html
    assert "/retry" not in perm_html
    assert "/retry" in temp_html.split("</form>")[0]


def test_poll_carries_the_reason_and_retryable(login_as, conversation):
    message = _failed(conversation, "190")
    data = login_as("agent").get(f"/conversations/{conversation.id}/poll?since=0").get_json()
    [polled] = [m for m in data["messages"] if m["id"] == message.id]
    assert polled["retryable"] is True
    assert "reconnect" in polled["failure_reason"]
    assert polled["error_code"] == "190"


def test_permanent_failure_cannot_be_retried_through_the_form(login_as, conversation):
    message = _failed(conversation, "551")
    client = login_as("agent")
    token = csrf_token_from(client.get(f"/conversations/{conversation.id}").get_data(as_text=True))
    resp = client.post(
        f"/conversations/{conversation.id}/messages/{message.id}/retry",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "retrying cannot help" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Message, message.id).status == "failed"
