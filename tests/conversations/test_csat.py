"""CSAT: the survey on close (outbound pipeline, RESPONSE only, never outside the window), the
answer from the webhook (stored, never reopens), and the dashboard charts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import db
from app.conversations import csat, services
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from tests.helpers import csrf_token_from, post_signed_webhook, uid
from tests.webhooks.webhook_helpers import item, now_ms, payload


def _sends(fakegraph) -> list[dict]:
    return [r for r in fakegraph.requests_log if r["method"] == "POST" and r["path"].endswith("/messages")]


@pytest.fixture
def csat_page(page):
    page.csat_enabled = True
    db.session.commit()
    return page


def _survey_messages(conversation) -> list[Message]:
    db.session.expire_all()
    return list(
        db.session.scalars(select(Message).where(Message.conversation_id == conversation.id, Message.kind == "csat"))
    )


def test_closing_inside_the_window_sends_one_quick_reply_question(csat_page, conversation, fakegraph, jobs):
    services.set_status(conversation, "closed")
    jobs(("outbound",))
    [survey] = _survey_messages(conversation)
    assert survey.status == "sent"
    assert survey.messaging_type == "RESPONSE"
    assert survey.tag is None
    [sent] = _sends(fakegraph)
    message = sent["json"]["message"]
    assert message["text"] == "How did we do?"
    assert [q["payload"] for q in message["quick_replies"]] == ["CSAT_1", "CSAT_2", "CSAT_3", "CSAT_4", "CSAT_5"]
    assert sent["json"]["messaging_type"] == "RESPONSE"
    assert "tag" not in sent["json"]
    # closing again (reopened by an agent, closed again) does not ask twice
    services.set_status(conversation, "open")
    services.set_status(conversation, "closed")
    assert len(_survey_messages(conversation)) == 1


def test_no_survey_outside_the_window_or_when_off(page, csat_page, conversation, contact):
    contact.last_inbound_at = utcnow() - timedelta(hours=25)
    conversation.last_inbound_at = contact.last_inbound_at
    db.session.commit()
    services.set_status(conversation, "closed")
    assert _survey_messages(conversation) == []
    assert "window is closed" in csat.survey_refusal(conversation)
    contact.last_inbound_at = conversation.last_inbound_at = utcnow()
    page.csat_enabled = False
    conversation.status = "open"
    db.session.commit()
    services.set_status(conversation, "closed")
    assert _survey_messages(conversation) == []


def test_closing_through_the_api_sends_the_survey(client, api, csat_page, conversation):
    resp = client.put(f"/api/v1/conversation/{conversation.id}", json={"status": "closed"}, headers=api("admin"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert len(_survey_messages(conversation)) == 1


def test_closing_from_the_inbox_view_sends_the_survey(client, login_as, csat_page, conversation):
    login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    resp = client.post(
        f"/conversations/{conversation.id}/status", data={"status": "closed", "csrf_token": csrf_token_from(html)}
    )
    assert resp.status_code == 302
    assert len(_survey_messages(conversation)) == 1


def _answer(client, jobs, psid: str, payload_value: str, text: str = "5 ★") -> None:
    resp = post_signed_webhook(
        client,
        payload(
            item(
                psid=psid,
                ts=now_ms(),
                message={
                    "mid": f"m_ans_{payload_value}_{now_ms()}",
                    "text": text,
                    "quick_reply": {"payload": payload_value},
                },
            )
        ),
    )
    assert resp.status_code == 200
    jobs(("webhooks",))


def test_the_answer_is_stored_and_never_reopens(client, jobs, csat_page, conversation, contact):
    services.set_status(conversation, "closed")
    _answer(client, jobs, contact.psid, "CSAT_4", "4 ★")
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert conv.csat_score == 4
    assert conv.csat_answered_at is not None
    assert conv.status == "closed"
    assert conv.unread_count == 0
    # a later, ordinary message reopens as usual
    resp = post_signed_webhook(
        client, payload(item(psid=contact.psid, message={"mid": "m_after", "text": "one more thing"}))
    )
    assert resp.status_code == 200
    jobs(("webhooks",))
    db.session.expire_all()
    conv = db.session.get(Conversation, conversation.id)
    assert conv.status == "open"
    assert conv.csat_score == 4


def test_a_csat_payload_without_a_survey_is_an_ordinary_message(client, jobs, page, contact):
    _answer(client, jobs, contact.psid, "CSAT_5")
    db.session.expire_all()
    conv = db.session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))
    assert conv.csat_score is None
    assert conv.status == "open"
    assert conv.unread_count == 1


@pytest.mark.parametrize("bad", ["CSAT_0", "CSAT_6", "CSAT_", "csat_3", "CSAT_3x"])
def test_bad_payloads_are_not_scores(csat_page, conversation, bad):
    conversation.csat_requested_at = utcnow()
    assert csat.answer_score(conversation, bad) is None
    assert csat.answer_score(conversation, "CSAT_3") == 3


def test_dashboard_charts_csat_per_page_and_per_agent(client, login_as, page, conversation):
    conversation.csat_score = 4
    conversation.csat_answered_at = utcnow()
    conversation.assignee_id = uid("agent")
    db.session.commit()
    html = login_as("manager").get("/").get_data(as_text=True)
    assert 'id="panel-csat"' in html
    assert f'id="chart-csat-page-{page.id}"' in html
    assert f'id="chart-csat-agent-{uid("agent")}"' in html
    assert "average 4.0 / 5 (1 rating)" in html
