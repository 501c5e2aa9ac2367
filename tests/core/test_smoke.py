from __future__ import annotations

from tests.helpers import login


def test_login_page_renders(client):
    resp = client.get("/login/")
    assert resp.status_code == 200
    assert "csrf_token" in resp.get_data(as_text=True)


def test_admin_can_log_in_and_see_dashboard(client):
    resp = login(client, "admin")
    assert resp.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert "open conversations" in home.get_data(as_text=True)


def test_anonymous_home_redirects_to_login(client):
    resp = client.get("/")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]
