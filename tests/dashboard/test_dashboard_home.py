"""Home dashboard: panels per role, SQL aggregates, charts render offline, escaping."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.dashboard import charts, services
from app.pages.models import Page
from app.privacy.models import PrivacyRequest
from app.webhooks.models import WebhookEvent


def _ids(html: str) -> set[str]:
    return set(re.findall(r'id="((?:panel|stat|chart)-[a-z-]+)"', html))


def _msg(conv: Conversation, direction: str, at, status: str | None = None, **kw) -> Message:
    m = Message(
        conversation=conv,
        direction=direction,
        text="hello",
        status=status or ("received" if direction == "in" else "sent"),
        created_at=at,
        **kw,
    )
    db.session.add(m)
    return m


def _privacy(status: str, due_at, code: str) -> PrivacyRequest:
    req = PrivacyRequest(request_type="erasure", status=status, due_at=due_at, confirmation_code=code)
    db.session.add(req)
    return req


def test_anonymous_is_sent_to_login(client):
    resp = client.get("/")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


@pytest.mark.parametrize(
    ("user", "present", "absent"),
    [
        (
            "admin",
            {"panel-conversations", "panel-webhooks", "panel-volume", "panel-response", "panel-privacy", "stat-failed"},
            set(),
        ),
        (
            "manager",
            {"panel-conversations", "panel-volume", "panel-response", "panel-waiting", "stat-failed"},
            {"panel-webhooks", "panel-privacy", "stat-mine"},
        ),
        (
            "agent",
            {"panel-conversations", "panel-volume", "stat-mine", "panel-waiting"},
            {"panel-webhooks", "panel-privacy", "panel-reauth"},
        ),
        (
            "privacy",
            {"panel-privacy", "panel-overdue", "panel-reauth"},
            {"panel-conversations", "panel-volume", "panel-webhooks", "panel-waiting"},
        ),
    ],
)
def test_panels_follow_the_role(login_as, conversation, user, present, absent):
    page = db.session.get(Page, conversation.page_id)
    page.needs_reauth = True
    page.reauth_reason = "token expired (190)"
    db.session.commit()
    html = login_as(user).get("/").get_data(as_text=True)
    ids = _ids(html)
    assert present <= ids, present - ids
    assert not (absent & ids), absent & ids


def test_counts_waiting_list_and_links(app, login_as, conversation, page):

    now = utcnow()
    # conversation: contact wrote last, 3 hours ago -> waiting
    conversation.last_inbound_at = conversation.last_message_at = now - timedelta(hours=3)
    # another open one where we answered last -> not waiting; assigned -> not unassigned
    other = Contact(page=page, psid="999", first_name="Grace", last_name="Hopper")
    conv2 = Conversation(
        page=page,
        contact=other,
        status="open",
        assignee_id=app.appbuilder.sm.find_user(username="agent").id,
        last_inbound_at=now - timedelta(hours=5),
        last_message_at=now - timedelta(hours=4),
    )
    closed = Conversation(
        page=page,
        contact=Contact(page=page, psid="998", first_name="X"),
        status="closed",
        last_inbound_at=now - timedelta(days=3),
        last_message_at=now - timedelta(days=3),
    )
    db.session.add_all([conv2, closed])
    db.session.commit()

    counts = services.conversation_counts()
    assert counts == {"open": 2, "unassigned": 1}
    waiting = services.waiting_longest(now=now)
    assert [w["id"] for w in waiting] == [conversation.id]
    assert waiting[0]["waiting"] == "3h 0m"

    html = login_as("manager").get("/").get_data(as_text=True)
    assert re.search(r'id="stat-open">2<', html)
    assert re.search(r'id="stat-unassigned">1<', html)
    assert f'href="/conversations/{conversation.id}"' in html
    assert f'href="/conversations/{conv2.id}"' not in html


def test_messages_per_day_groups_in_sql_and_zero_fills(conversation):
    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    _msg(conversation, "in", now - timedelta(days=1, hours=1))
    _msg(conversation, "in", now - timedelta(days=1, hours=2))
    _msg(conversation, "out", now - timedelta(days=1))
    _msg(conversation, "out", now)
    _msg(conversation, "in", now - timedelta(days=45))  # outside the window
    db.session.commit()

    data = services.messages_per_day(now=now)
    assert len(data["days"]) == 30
    assert data["days"][-1] == now.date()
    assert data["in"][-2] == 2
    assert data["out"][-2] == 1
    assert data["in"][-1] == 0
    assert data["out"][-1] == 1
    assert sum(data["in"]) == 2
    assert sum(data["out"]) == 2


def test_median_first_response_per_day(page):

    now = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
    delays = [10, 20, 60]  # minutes, all answered "yesterday" -> median 20
    for i, minutes in enumerate(delays):
        first_in = now - timedelta(days=1, hours=2)
        conv = Conversation(
            page=page,
            contact=Contact(page=page, psid=f"p{i}"),
            status="open",
            first_response_at=first_in + timedelta(minutes=minutes),
        )
        db.session.add(conv)
        _msg(conv, "in", first_in)
        _msg(conv, "in", first_in + timedelta(minutes=1))  # later inbound: not the first
        _msg(conv, "out", first_in + timedelta(minutes=minutes))
    # answered today after 4 minutes
    conv = Conversation(
        page=page, contact=Contact(page=page, psid="today"), status="open", first_response_at=now - timedelta(minutes=1)
    )
    db.session.add(conv)
    _msg(conv, "in", now - timedelta(minutes=5))
    # never answered: not counted
    unanswered = Conversation(page=page, contact=Contact(page=page, psid="none"), status="open")
    db.session.add(unanswered)
    _msg(unanswered, "in", now - timedelta(hours=1))
    db.session.commit()

    data = services.median_first_response_per_day(now=now)
    assert data["minutes"][-2] == pytest.approx(20.0, abs=0.1)
    assert data["minutes"][-1] == pytest.approx(4.0, abs=0.1)
    assert data["minutes"][:-2] == [None] * 28


def test_failed_sends_reauth_pages_and_webhook_errors(login_as, conversation):
    now = utcnow()
    _msg(conversation, "out", now, status="failed", error_code="551", error_message="This person isn't available")
    _msg(conversation, "out", now, status="sent")
    page = db.session.get(Page, conversation.page_id)
    page.needs_reauth = True
    db.session.add_all(
        [
            WebhookEvent(payload="{}", status="error", error="boom"),
            WebhookEvent(payload="{}", status="pending", received_at=now - timedelta(seconds=120)),
            WebhookEvent(payload="{}", status="processed"),
        ]
    )
    db.session.commit()

    assert services.failed_sends()["count"] == 1
    assert services.pages_needing_reauth()[0]["name"] == "Test Page"
    health = services.webhook_health(now=now)
    assert health["errors"] == 1
    assert 119 <= health["lag_seconds"] <= 125

    html = login_as("admin").get("/").get_data(as_text=True)
    assert re.search(r'id="stat-failed">1<', html)
    assert re.search(r'id="stat-webhook-errors">1<', html)
    assert "This person isn&#39;t available" in html
    assert "Test Page" in html


def test_privacy_officer_sees_status_counts_and_overdue(login_as):
    now = utcnow()
    _privacy("pending", now - timedelta(days=2), "c1")  # overdue
    _privacy("approved", now - timedelta(days=1), "c2")  # overdue
    _privacy("complete", now - timedelta(days=5), "c3")  # done: not overdue
    _privacy("denied", now - timedelta(days=5), "c4")  # done: not overdue
    _privacy("pending", now + timedelta(days=20), "c5")  # not due yet
    db.session.commit()

    counts = services.privacy_by_status()
    assert counts["pending"] == 2
    assert counts["approved"] == 1
    assert counts["complete"] == 1
    assert counts["canceled"] == 0
    overdue = services.privacy_overdue(now=now)
    assert overdue["count"] == 2
    assert [r["days_overdue"] for r in overdue["latest"]] == [2, 1]

    html = login_as("privacy").get("/").get_data(as_text=True)
    assert re.search(r'id="stat-overdue">2<', html)
    assert re.search(r'data-status="pending">2<', html)


def test_charts_render_inline_svg_without_external_assets(login_as, conversation):
    _msg(conversation, "in", utcnow())
    db.session.commit()
    client = login_as("agent")
    html = client.get("/").get_data(as_text=True)
    assert '<svg id="chart-volume"' in html
    assert '<svg id="chart-response"' in html
    assert re.search(r'<rect class="bar series-in"[^>]*height="(?!0")', html), "today's inbound bar is drawn"
    # every script and stylesheet is served by us: no CDN
    for url in re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html):
        assert url.startswith("/"), url
    css = client.get("/static/omnicrm/omnicrm.css")
    assert css.status_code == 200
    assert b".omni-chart" in css.data


def test_contact_names_are_escaped_on_the_dashboard(login_as, conversation):
    conversation.contact.first_name = "<script>window.pwned=1</script>"
    conversation.last_inbound_at = conversation.last_message_at = utcnow()
    db.session.commit()
    html = login_as("manager").get("/").get_data(as_text=True)
    assert "<script>window.pwned" not in html
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html


def test_chart_geometry():

    days = [date(2026, 1, d) for d in range(1, 4)]
    chart = charts.grouped_bars(days, [("in", "series-in", [0, 5, 10]), ("out", "series-out", [1, 0, 0])])
    assert len(chart.bars) == 6
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.title == "2026-01-03: 10 in"
    assert chart.y_ticks[-1][1] == "10"
    assert not chart.empty
    line = charts.line(days, [None, 3.5, None], "median", "m")
    assert len(line.dots) == 1
    assert "," in line.points
    assert charts.line(days, [None, None, None], "median").empty
