"""Connecting a page: help on the token, Meta's check on save, typed fields kept on an error."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.pages.models import Page
from tests.helpers import csrf_token_from

TOKEN = "EAAformTOKENvalue12345678"


def _post(client, **fields):
    form = client.get("/pagemodelview/add").get_data(as_text=True)
    data = {"name": "Bikes", "fb_page_id": "4242", "new_access_token": TOKEN, "retention_days": "365"}
    data.update(fields, csrf_token=csrf_token_from(form))
    return client.post("/pagemodelview/add", data=data)


def test_the_add_form_explains_the_token(login_as):
    html = login_as("admin").get("/pagemodelview/add").get_data(as_text=True)
    assert "Page access token" in html
    assert "pages_messaging" in html
    assert "pages_manage_metadata" in html
    assert "Graph API Explorer" in html
    assert 'name="subscribed"' not in html  # Meta's answer, not a checkbox


def test_an_invalid_token_is_refused_with_the_fields_kept(fakegraph, login_as, app, monkeypatch):
    monkeypatch.setitem(app.config, "GRAPH_API_VERSION", "v22.0")
    fakegraph.set_token_info(TOKEN, is_valid=False, error={"message": "Session has expired"})
    resp = _post(login_as("admin"), name="Bikes and more")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "Meta says this page access token is not valid: Session has expired" in html
    assert 'value="Bikes and more"' in html
    assert 'value="4242"' in html
    assert TOKEN not in html  # a secret is never echoed back
    assert db.session.scalar(select(Page.id)) is None


def test_missing_permission_and_wrong_page_are_refused(fakegraph, login_as):
    client = login_as("admin")
    fakegraph.set_token_info(TOKEN, scopes=["pages_show_list"])
    html = _post(client).get_data(as_text=True)
    assert "the token lacks the permission(s) pages_messaging, pages_manage_metadata" in html
    fakegraph.set_token_info(TOKEN, profile_id="777")
    html = _post(client).get_data(as_text=True)
    assert "this token belongs to page 777, not to page 4242" in html
    assert db.session.scalar(select(Page.id)) is None


def test_a_good_token_is_saved_and_checked_so_subscribed_is_real(fakegraph, login_as, app, monkeypatch):
    monkeypatch.setitem(app.config, "GRAPH_API_VERSION", "v22.0")
    fakegraph.set_subscription("4242", None)
    resp = _post(login_as("admin"))
    assert resp.status_code == 302
    page = db.session.scalar(select(Page).where(Page.fb_page_id == "4242"))
    assert page.access_token == TOKEN
    assert page.health_status == "failing"
    assert page.subscribed is False


def test_meta_unreachable_saves_with_a_warning(login_as, app, monkeypatch):
    monkeypatch.setitem(app.config, "GRAPH_API_BASE", "http://127.0.0.1:1")
    client = login_as("admin")
    resp = _post(client)
    assert resp.status_code == 302
    assert db.session.scalar(select(Page.token_last4).where(Page.fb_page_id == "4242")) == TOKEN[-4:]
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "could not be verified with Meta right now" in html
