"""Browsers get product-styled 403/404/500 pages; JSON callers keep their JSON answers."""

from __future__ import annotations

import pytest

SECRET = "db password is hunter2"  # an exception's text: never on the page


def _boom() -> None:
    raise RuntimeError(SECRET)


def test_agent_on_an_admin_page_gets_the_styled_403(login_as):
    client = login_as("agent")
    resp = client.get("/users/list/")
    assert resp.status_code == 403
    assert resp.content_type == "text/html; charset=utf-8"
    html = resp.get_data(as_text=True)
    assert 'id="error-403"' in html
    assert "ask an Admin for access" in html
    assert 'href="/"' in html
    assert "omnicrm/omnicrm.css" in html  # inside the app's layout (signed in)
    assert "Forbidden" not in html  # not Werkzeug's bare page


def test_unknown_url_gets_the_styled_404_signed_in(login_as):
    resp = login_as("agent").get("/no-such-page")
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert 'id="error-404"' in html
    assert 'href="/"' in html
    assert "omnicrm/omnicrm.css" in html


def test_unknown_url_gets_a_plain_404_when_signed_out(client):
    resp = client.get("/no-such-page")
    assert resp.status_code == 404
    html = resp.get_data(as_text=True)
    assert 'id="error-404"' in html
    assert 'href="/"' in html
    assert "omnicrm/omnicrm.css" not in html  # no app layout without a user


@pytest.mark.parametrize("signed_in", [True, False])
def test_a_crash_gets_the_styled_500_without_the_exception_text(app, client, login_as, monkeypatch, signed_in):
    if signed_in:
        login_as("agent")
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setitem(app.view_functions, "DashboardIndexView.index", _boom)
    resp = client.get("/")
    assert resp.status_code == 500
    html = resp.get_data(as_text=True)
    assert 'id="error-500"' in html
    assert SECRET not in html
    assert "RuntimeError" not in html
    assert ("omnicrm/omnicrm.css" in html) is signed_in


def test_api_errors_stay_json(client):
    resp = client.get("/api/v1/nope")
    assert resp.status_code == 404
    assert resp.is_json
    assert "message" in resp.get_json()


def test_a_json_caller_on_a_browser_route_gets_no_page(client):
    resp = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert 'id="error-404"' not in resp.get_data(as_text=True)


def test_the_data_deletion_callback_keeps_its_answer(client):
    resp = client.get("/privacy/facebook/no-such-callback")
    assert resp.status_code == 404
    assert 'id="error-404"' not in resp.get_data(as_text=True)
