"""The managers' team panel: per-agent times, counts linking to the inbox, answerable waiting lists."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.dashboard import services, team
from tests.helpers import uid


def _conv(page, psid: str, **fields) -> Conversation:
    contact = Contact(page=page, psid=psid, first_name=f"C{psid}")
    conv = Conversation(page=page, contact=contact, **fields)
    db.session.add(conv)
    db.session.commit()
    return conv


def test_per_agent_first_response_and_resolution(app, page):
    now = utcnow()
    agent = uid("agent")
    answered = _conv(
        page,
        "1",
        status="open",
        assignee_id=agent,
        created_at=now - timedelta(hours=5),
        first_response_at=now - timedelta(hours=3),
        last_message_at=now - timedelta(hours=3),
    )
    db.session.add(
        Message(
            conversation_id=answered.id,
            direction="in",
            text="hi",
            status="received",
            created_at=now - timedelta(hours=5),
        )
    )
    _conv(
        page,
        "2",
        status="closed",
        assignee_id=agent,
        created_at=now - timedelta(hours=10),
        last_message_at=now - timedelta(hours=4),
    )
    _conv(page, "3", status="open", last_message_at=now)
    db.session.commit()
    rows = {r.name: r for r in team.per_agent(now)}
    assert rows["agent"].open == 1
    assert rows["agent"].answered == 1
    assert rows["agent"].first_response_hours == 2.0
    assert rows["agent"].resolved == 1
    assert rows["agent"].resolution_hours == 6.0
    assert rows["unassigned"].open == 1
    assert rows["unassigned"].first_response_hours is None


@pytest.mark.parametrize(("human_agent", "waiting"), [(False, {"fresh"}), (True, {"fresh", "three_days"})])
def test_waiting_lists_leave_out_conversations_nobody_can_answer(app, page, monkeypatch, human_agent, waiting):
    monkeypatch.setitem(app.config, "HUMAN_AGENT_TAG_ENABLED", human_agent)
    now = utcnow()
    made = {}
    for name, age in (("fresh", timedelta(hours=2)), ("three_days", timedelta(days=3)), ("old", timedelta(days=9))):
        made[name] = _conv(page, name, status="open", last_inbound_at=now - age, last_message_at=now - age).id
    ids = {w["id"] for w in services.waiting_longest(now=now)}
    assert ids == {made[n] for n in waiting}
    counts = team.counts(now)
    assert counts["waiting"] == len(waiting)
    assert counts["unanswerable"] == 3 - len(waiting)


@pytest.mark.parametrize(("role", "shown"), [("manager", True), ("admin", True), ("agent", False), ("privacy", False)])
def test_team_panel_for_managers_links_to_the_filtered_inbox(login_as, conversation, role, shown):
    html = login_as(role).get("/").get_data(as_text=True)
    assert ('id="panel-team"' in html) is shown
    if shown:
        assert 'href="/conversations/?queue=unassigned&amp;assignee=none"' in html
        assert 'id="team-agents"' in html
