"""The REST API and `flask omnicrm page add` check a new token with Meta like the page form does
(`health.check_new_token`): a token Meta refuses is never saved."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.pages.models import Page

TOKEN = "EAAapiTOKENvalue12345678"


def _create(client, api, **fields):
    body = {"name": "Bikes", "fb_page_id": "4242", "access_token": TOKEN, "retention_days": 365, **fields}
    return client.post("/api/v1/page/", json=body, headers=api("admin"))


def test_the_api_refuses_a_token_meta_refuses(client, api, fakegraph):
    fakegraph.set_token_info(TOKEN, is_valid=False, error={"message": "Session has expired"})
    resp = _create(client, api)
    assert resp.status_code == 422, resp.get_json()
    assert "Meta says this page access token is not valid: Session has expired" in resp.get_data(as_text=True)
    assert TOKEN not in resp.get_data(as_text=True)
    assert db.session.scalar(select(Page.id)) is None


def test_the_api_refuses_another_page_s_token_and_missing_permissions(client, api, fakegraph):
    fakegraph.set_token_info(TOKEN, profile_id="777")
    resp = _create(client, api)
    assert resp.status_code == 422
    assert "this token belongs to page 777, not to page 4242" in resp.get_data(as_text=True)
    fakegraph.set_token_info(TOKEN, scopes=["pages_show_list"])
    resp = _create(client, api)
    assert resp.status_code == 422
    assert "the token lacks the permission(s) pages_messaging, pages_manage_metadata" in resp.get_data(as_text=True)
    assert db.session.scalar(select(Page.id)) is None


def test_the_api_saves_a_good_token_and_checks_a_changed_one(client, api, fakegraph):
    resp = _create(client, api)
    assert resp.status_code == 201, resp.get_json()
    pk = resp.get_json()["id"]
    new = "EAAapiTOKENnewvalue99999"
    fakegraph.set_token_info(new, is_valid=False, error={"message": "Invalid OAuth access token"})
    resp = client.put(f"/api/v1/page/{pk}", json={"access_token": new}, headers=api("admin"))
    assert resp.status_code == 422
    assert "Invalid OAuth access token" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Page, pk).access_token == TOKEN  # the good token stays


def test_page_add_refuses_a_token_meta_refuses(app, fakegraph):
    fakegraph.set_token_info(TOKEN, is_valid=False, error={"message": "Session has expired"})
    result = app.test_cli_runner().invoke(
        args=["omnicrm", "page", "add", "--page-id", "4242", "--name", "Bikes"], input=TOKEN + "\n"
    )
    assert result.exit_code == 2
    assert "Meta says this page access token is not valid: Session has expired" in result.output
    assert db.session.scalar(select(Page.id)) is None


def test_page_add_with_meta_unreachable_saves_and_warns(app, monkeypatch):
    monkeypatch.setitem(app.config, "GRAPH_API_BASE", "http://127.0.0.1:1")
    result = app.test_cli_runner().invoke(
        args=["omnicrm", "page", "add", "--page-id", "4242", "--name", "Bikes"], input=TOKEN + "\n"
    )
    assert result.exit_code == 0, result.output
    assert "connected; token ends in …5678" in result.output
    assert "Warning: the token could not be verified with Meta right now" in result.output
