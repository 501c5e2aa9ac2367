"""The Admin's Channels page, the health-check API, the CLI, the dashboard banner and /metrics."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.core.queues import get_queue
from app.pages import health
from app.pages.models import Page
from tests.helpers import csrf_token_from, login


def _reload(page: Page) -> Page:
    db.session.expire_all()
    return db.session.get(Page, page.id)


def test_channels_page_lists_pages_with_their_health(channel, login_as):
    client = login_as("admin")
    resp = client.get("/admin/channels/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert channel.name in html
    assert "not checked" in html
    health.do_check_page(channel)
    html = client.get("/admin/channels/").get_data(as_text=True)
    assert 'data-status="ok"' in html
    assert "all checks passed" in html
    assert ".0000" not in html  # readable dates, no microseconds


def test_channels_page_is_admin_only(channel, app):
    for user in ("manager", "agent", "privacy"):
        client = app.test_client()
        assert login(client, user).status_code == 302
        assert client.get("/admin/channels/").status_code == 403


def test_check_now_and_resubscribe_buttons(channel, fakegraph, login_as):
    client = login_as("admin")
    csrf = csrf_token_from(client.get("/admin/channels/").get_data(as_text=True))
    fakegraph.set_subscription(channel.fb_page_id, None)
    resp = client.post(f"/admin/channels/{channel.id}/check", data={"csrf_token": csrf})
    assert resp.status_code == 303
    page = _reload(channel)
    assert page.health_status == "failing"
    html = client.get("/admin/channels/").get_data(as_text=True)
    assert "the app is not subscribed to the page&#39;s webhooks" in html
    resp = client.post(f"/admin/channels/{channel.id}/resubscribe", data={"csrf_token": csrf})
    assert resp.status_code == 303
    page = _reload(channel)
    assert page.health_status == "ok"
    assert page.subscribed is True


def test_resubscribe_refused_by_meta_is_flashed(channel, fakegraph, login_as):
    client = login_as("admin")
    csrf = csrf_token_from(client.get("/admin/channels/").get_data(as_text=True))
    fakegraph.fail_next(200, message="(#200) Permissions error")
    resp = client.post(f"/admin/channels/{channel.id}/resubscribe", data={"csrf_token": csrf}, follow_redirects=True)
    assert resp.status_code == 200
    assert "Not re-subscribed: Meta refused the subscription" in resp.get_data(as_text=True)


def test_backfill_button_queues_a_job_and_refuses_a_bad_date(channel, login_as):
    client = login_as("admin")
    csrf = csrf_token_from(client.get("/admin/channels/").get_data(as_text=True))
    resp = client.post(
        f"/admin/channels/{channel.id}/backfill", data={"csrf_token": csrf, "since": "soon"}, follow_redirects=True
    )
    assert "Backfill not started: &#39;soon&#39; is not an ISO date" in resp.get_data(as_text=True)
    assert get_queue("default").count == 0
    resp = client.post(f"/admin/channels/{channel.id}/backfill", data={"csrf_token": csrf, "since": "2026-11-01"})
    assert resp.status_code == 303
    [job] = get_queue("default").get_jobs()
    assert job.args == (channel.id, "2026-11-01T00:00:00")


def test_missing_page_is_a_flash_not_an_error(channel, login_as):
    client = login_as("admin")
    csrf = csrf_token_from(client.get("/admin/channels/").get_data(as_text=True))
    resp = client.post("/admin/channels/999999/check", data={"csrf_token": csrf}, follow_redirects=True)
    assert resp.status_code == 200
    assert "No such page" in resp.get_data(as_text=True)


def test_health_check_api_is_admin_only_and_answers_json(channel, fakegraph, client, api):
    resp = client.post(f"/api/v1/page/{channel.id}/health-check", headers=api("admin"))
    assert resp.status_code == 200
    result = resp.get_json()["result"]
    assert result["health_status"] == "ok"
    assert result["health_reason"] == "all checks passed"
    assert result["findings"] == []
    for user in ("manager", "agent", "privacy"):
        assert client.post(f"/api/v1/page/{channel.id}/health-check", headers=api(user)).status_code == 403
    assert client.post("/api/v1/page/999999/health-check", headers=api("admin")).status_code == 404
    shown = client.get(f"/api/v1/page/{channel.id}", headers=api("admin")).get_json()["result"]
    assert shown["health_status"] == "ok"


def test_dashboard_banner_for_admins_and_managers_only(channel, fakegraph, login_as, app):
    fakegraph.set_token_info(is_valid=False)
    health.do_check_page(channel)
    for user, sees in (("admin", True), ("manager", True), ("agent", False), ("privacy", False)):
        client = app.test_client()
        assert login(client, user).status_code == 302
        html = client.get("/").get_data(as_text=True)
        assert ('id="channel-health-banner"' in html) is sees, user
        if sees:
            assert channel.name in html
    # a manager is not sent to a page they may not open
    client = app.test_client()
    login(client, "manager")
    assert 'id="channel-health-link"' not in client.get("/").get_data(as_text=True)


def test_metrics_export_a_gauge_per_page(channel, fakegraph, client):
    health.do_check_page(channel)
    body = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert f'omnicrm_channel_health{{page_id="{channel.fb_page_id}",page="{channel.name}"}} 0' in body


def test_cli_check_fix_and_exit_codes(channel, fakegraph, app):
    runner = app.test_cli_runner()
    fakegraph.set_subscription(channel.fb_page_id, None)
    result = runner.invoke(args=["omnicrm", "channels", "check"])
    assert result.exit_code == 1
    assert f"Test Page ({channel.fb_page_id}): failing — the app is not subscribed" in result.output
    result = runner.invoke(args=["omnicrm", "channels", "check", "--fix"])
    assert result.exit_code == 0, result.output
    assert "ok (re-subscribed) — all checks passed" in result.output


def test_cli_backfill_reports_counts_and_helps_on_errors(channel, fakegraph, app):
    fakegraph.set_history(channel.fb_page_id, generate={"conversations": 2, "messages": 3, "start": 1_790_000_000})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["omnicrm", "channels", "backfill", "--page-id", "42", "--since", "2026-01-01"])
    assert result.exit_code == 2
    assert f"no page with Facebook Page id '42' (connected: {channel.fb_page_id})" in result.output
    args = ["omnicrm", "channels", "backfill", "--page-id", channel.fb_page_id, "--since", "last week"]
    result = runner.invoke(args=args)
    assert result.exit_code == 2
    assert "is not an ISO date or time" in result.output
    args[-1] = "2026-01-01"
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "6 message(s) recovered, 0 already present" in result.output
    assert "3 recovered, 0 already present" in result.output
    result = runner.invoke(args=args)
    assert "0 message(s) recovered, 6 already present" in result.output


def test_cli_check_without_pages(app, fakegraph):
    result = app.test_cli_runner().invoke(args=["omnicrm", "channels", "check"])
    assert result.exit_code == 0
    assert "No pages connected" in result.output
    assert db.session.scalar(select(Page.id)) is None


def test_the_health_check_is_in_the_openapi_document_the_fuzz_test_reads(client, api):
    spec = client.get("/api/v1/_openapi", headers=api("admin")).get_json()
    assert "post" in spec["paths"]["/api/v1/page/{pk}/health-check"]
