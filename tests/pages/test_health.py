"""Channel health checks: each outcome, the repair, the audit trail and the send-path refusal."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from app import db
from app.conversations import services as conversations
from app.conversations.exceptions import ReplyRefused
from app.conversations.models import Message
from app.core.models import utcnow
from app.core.queues import get_queue
from app.messenger.channel_client import SUBSCRIBED_FIELDS
from app.pages import graph_versions, health
from app.pages.models import Page
from tests.helpers import audit_actions


def _reload(page: Page) -> Page:
    db.session.expire_all()
    return db.session.get(Page, page.id)


def test_a_healthy_page_is_ok_and_the_first_verdict_is_audited(channel, fakegraph):
    result = health.do_check_page(channel)
    page = _reload(channel)
    assert result.status == "ok"
    assert page.health_status == "ok"
    assert page.health_reason == "all checks passed"
    assert page.health_checked_at is not None
    assert page.subscribed is True
    assert "pages_messaging" in page.token_scopes.split(",")
    assert page.token_expires_at is None  # Meta's 0: never expires
    assert audit_actions("page").count("channel_health_changed") == 1
    paths = [r["path"] for r in fakegraph.requests_log]
    assert "/v22.0/debug_token" in paths
    assert f"/v22.0/{page.fb_page_id}/subscribed_apps" in paths
    # the app token asks, the page token is only the subject
    debug = next(r for r in fakegraph.requests_log if r["path"] == "/v22.0/debug_token")
    assert debug["query"]["input_token"] == "EAAtestpagetoken1234WXYZ"
    assert "|" in debug["query"]["access_token"]


def test_same_status_again_is_not_audited_twice(channel):
    health.do_check_page(channel)
    health.do_check_page(_reload(channel))
    assert audit_actions("page").count("channel_health_changed") == 1


def test_an_invalid_token_fails_and_blocks_replies_at_once(channel, fakegraph, conversation, login_as, api):
    fakegraph.set_token_info(is_valid=False, error={"code": 190, "message": "The session has been invalidated."})
    result = health.do_check_page(channel)
    page = _reload(channel)
    assert result.status == "failing"
    assert "access token is invalid" in page.health_reason
    assert page.needs_reauth is True
    with pytest.raises(ReplyRefused, match="expired or was revoked"):
        conversations.queue_reply(db.session.get(type(conversation), conversation.id), "hello")
    db.session.rollback()
    answer = login_as("agent").post(
        f"/api/v1/conversation/{conversation.id}/reply",
        json={"text": "hello", "human_agent": False},
        headers=api("agent"),
    )
    assert answer.status_code == 422
    assert "an admin must replace it" in answer.get_json()["message"]
    assert db.session.scalar(select(func.count(Message.id))) == 0
    assert get_queue("outbound").count == 0


def test_a_token_without_pages_messaging_fails_and_refuses_replies(channel, fakegraph, conversation, api, client):
    fakegraph.set_token_info(scopes=["pages_manage_metadata", "pages_show_list"])
    result = health.do_check_page(channel)
    assert result.status == "failing"
    assert "lacks the pages_messaging permission" in result.reason
    answer = client.post(
        f"/api/v1/conversation/{conversation.id}/reply",
        json={"text": "hello", "human_agent": False},
        headers=api("agent"),
    )
    assert answer.status_code == 422
    assert "pages_messaging" in answer.get_json()["message"]
    assert db.session.scalar(select(func.count(Message.id))) == 0
    assert get_queue("outbound").count == 0


def test_missing_pages_manage_metadata_is_a_warning(channel, fakegraph):
    fakegraph.set_token_info(scopes=["pages_messaging"])
    result = health.do_check_page(channel)
    assert result.status == "warning"
    assert result.reason == "the token lacks the pages_manage_metadata permission"


def test_instagram_needs_its_permission_when_linked(channel, fakegraph, monkeypatch):
    fakegraph.set_token_info(scopes=["pages_messaging", "pages_manage_metadata"])
    channel.ig_account_id = "17841400000000001"
    db.session.commit()
    result = health.do_check_page(channel)
    assert result.status == "failing"
    assert "instagram_manage_messages" in result.reason


def test_a_token_expiring_within_a_week_is_a_warning(channel, fakegraph):
    soon = int((utcnow() + timedelta(days=3)).timestamp())
    fakegraph.set_token_info(expires_at=soon)
    result = health.do_check_page(channel)
    assert result.status == "warning"
    assert result.reason.startswith("the access token expires on ")
    assert _reload(channel).token_expires_at is not None


def test_a_token_of_another_page_fails(channel, fakegraph):
    fakegraph.set_token_info(profile_id="999")
    result = health.do_check_page(channel)
    assert result.status == "failing"
    assert "belongs to another page (999)" in result.reason


def test_an_unsubscribed_page_fails_then_fix_resubscribes_and_audits(channel, fakegraph):
    fakegraph.set_subscription(channel.fb_page_id, None)
    result = health.do_check_page(channel)
    assert result.status == "failing"
    assert result.reason == "the app is not subscribed to the page's webhooks"
    assert _reload(channel).subscribed is False

    fixed = health.do_check_page(_reload(channel), fix=True)
    assert fixed.status == "ok"
    assert fixed.resubscribed is True
    assert _reload(channel).subscribed is True
    post = next(r for r in fakegraph.requests_log if r["method"] == "POST" and r["path"].endswith("/subscribed_apps"))
    assert "messages" in post["query"]["subscribed_fields"].split(",")
    assert "page_resubscribed" in audit_actions("page")


def test_missing_webhook_fields_are_a_warning(channel, fakegraph):
    fakegraph.set_subscription(channel.fb_page_id, ["messages"])
    result = health.do_check_page(channel)
    assert result.status == "warning"
    assert result.reason.startswith("webhook fields not subscribed: messaging_postbacks")


def test_graph_unavailable_is_a_warning_not_a_verdict_on_the_token(channel, fakegraph):
    fakegraph.fail_next(2, http_status=503, message="Service temporarily unavailable")
    result = health.do_check_page(channel)
    assert result.status == "warning"
    assert result.reason.startswith("check incomplete: Graph API unavailable")
    assert _reload(channel).needs_reauth is False


def test_the_api_version_near_its_end_of_life_is_a_warning(channel, app, monkeypatch):
    monkeypatch.setitem(app.config, "GRAPH_API_VERSION", "v21.0")
    found = health.check_version(app.config, utcnow().replace(year=2026, month=12, day=1))
    assert [f.level for f in found] == ["warning"]
    assert "v21.0 ends on 2027-01-21" in found[0].reason


@pytest.mark.parametrize(
    ("version", "today", "level"),
    [
        ("v21.0", date(2026, 10, 1), "ok"),
        ("v21.0", date(2026, 10, 24), "warning"),  # 89 days before 2027-01-21
        ("21", date(2027, 1, 22), "failing"),
        ("v22.0", date(2027, 3, 1), "warning"),
        ("v22.0", date(2026, 12, 1), "ok"),
        ("v99.0", date(2026, 12, 1), "warning"),
    ],
)
def test_version_table_verdicts(version, today, level):
    assert graph_versions.verdict(version, today).level == level


def test_a_quiet_page_that_had_traffic_is_flagged(channel, contact, app, monkeypatch):
    monkeypatch.setitem(app.config, "CHANNEL_STALE_HOURS", 24)
    contact.last_inbound_at = utcnow() - timedelta(hours=30)
    db.session.commit()
    result = health.do_check_page(channel)
    assert result.status == "warning"
    assert result.reason.startswith("no webhook event for 30 hours")
    contact.last_inbound_at = utcnow() - timedelta(days=40)  # no recent traffic: nothing to expect
    db.session.commit()
    assert health.do_check_page(_reload(channel)).status == "ok"
    contact.last_inbound_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    assert health.do_check_page(_reload(channel)).status == "ok"


def test_failing_back_to_ok_queues_a_backfill_for_the_gap(channel, fakegraph):
    fakegraph.set_subscription(channel.fb_page_id, None)
    health.do_check_page(channel)
    failing_since = _reload(channel).health_failing_since
    assert failing_since is not None
    assert get_queue("default").count == 0
    fakegraph.set_subscription(channel.fb_page_id, list(SUBSCRIBED_FIELDS))
    result = health.do_check_page(_reload(channel))
    assert result.status == "ok"
    assert result.backfill_since == failing_since - health.BACKFILL_MARGIN
    [job] = get_queue("default").get_jobs()
    assert job.func_name == "app.pages.tasks.backfill_page"
    assert job.args == (channel.id, result.backfill_since.isoformat())
    assert _reload(channel).health_failing_since is None
    assert audit_actions("page").count("channel_health_changed") == 2


def test_failing_pages_and_gauges(channel, fakegraph):
    assert health.health_gauges() == [(channel.fb_page_id, channel.name, -1)]
    fakegraph.set_subscription(channel.fb_page_id, None)
    health.do_check_page(channel)
    assert [p.id for p in health.failing_pages()] == [channel.id]
    assert health.health_gauges() == [(channel.fb_page_id, channel.name, 2)]
