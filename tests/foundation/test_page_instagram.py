"""Linking a Page's Instagram professional account: the command, the form and the API."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.pages.models import Page
from tests.helpers import csrf_token_from, login

IG = "17841400000000009"


def test_cli_links_unlinks_and_audits(app, page):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["omnicrm", "page", "instagram", "--page-id", page.fb_page_id, "--ig-id", IG])
    assert result.exit_code == 0, result.output
    assert f"linked to Instagram account {IG}" in result.output
    db.session.expire_all()
    assert db.session.get(Page, page.id).ig_account_id == IG
    row = db.session.scalar(select(AuditLog).where(AuditLog.action == "page_instagram_linked"))
    assert (row.entity_type, str(row.entity_id)) == ("page", str(page.id))
    result = runner.invoke(args=["omnicrm", "page", "instagram", "--page-id", page.fb_page_id, "--ig-id", ""])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Page, page.id).ig_account_id is None


def test_cli_refuses_bad_ids_and_unknown_pages(app, page):
    runner = app.test_cli_runner()
    bad = runner.invoke(args=["omnicrm", "page", "instagram", "--page-id", page.fb_page_id, "--ig-id", "abc"])
    assert bad.exit_code == 2
    assert "numeric id" in bad.output
    missing = runner.invoke(args=["omnicrm", "page", "instagram", "--page-id", "999", "--ig-id", IG])
    assert missing.exit_code == 2
    assert "no connected page" in missing.output


def test_an_instagram_account_links_to_one_page_only(app, page, api, client):
    other = Page(fb_page_id="5550001", name="Other")
    other.set_token("EAAotherpagetoken5678")
    other.ig_account_id = IG
    db.session.add(other)
    db.session.commit()
    runner = app.test_cli_runner()
    taken = runner.invoke(args=["omnicrm", "page", "instagram", "--page-id", page.fb_page_id, "--ig-id", IG])
    assert taken.exit_code == 2
    assert "already linked to page Other" in taken.output
    resp = client.put(f"/api/v1/page/{page.id}", json={"ig_account_id": IG}, headers=api("admin"))
    assert resp.status_code == 422
    assert "already linked" in resp.get_data(as_text=True)


def test_api_sets_and_shows_the_ig_account_id(page, api, client):
    headers = api("admin")
    resp = client.put(f"/api/v1/page/{page.id}", json={"ig_account_id": IG}, headers=headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    shown = client.get(f"/api/v1/page/{page.id}", headers=headers).get_json()["result"]
    assert shown["ig_account_id"] == IG
    bad = client.put(f"/api/v1/page/{page.id}", json={"ig_account_id": "not-a-number"}, headers=headers)
    assert bad.status_code == 422


def test_edit_form_links_the_account(page, client):
    login(client, "admin")
    form = client.get(f"/pagemodelview/edit/{page.id}")
    assert form.status_code == 200
    assert "Instagram account ID" in form.get_data(as_text=True)
    resp = client.post(
        f"/pagemodelview/edit/{page.id}",
        data={
            "name": page.name,
            "retention_days": "365",
            "subscribed": "y",
            "ig_account_id": IG,
            "csrf_token": csrf_token_from(form.get_data(as_text=True)),
        },
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Page, page.id).ig_account_id == IG
