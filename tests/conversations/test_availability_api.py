"""`GET/POST /api/v1/me/availability` (the caller's own), the navbar toggle, page settings."""

from __future__ import annotations

import pytest

from app import db
from app.audit.models import AuditLog
from app.conversations import availability
from app.pages.models import Page
from tests.helpers import csrf_token_from, uid

URL = "/api/v1/me/availability"


def test_default_is_away_with_capacity_20(client, api):
    resp = client.get(URL, headers=api("agent"))
    assert resp.status_code == 200
    assert resp.get_json() == {"availability": "away", "capacity": 20}


def test_set_own_availability_and_capacity(client, api):
    resp = client.post(URL, json={"availability": "online", "capacity": 5}, headers=api("agent"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.get_json() == {"availability": "online", "capacity": 5}
    assert client.get(URL, headers=api("agent")).get_json() == {"availability": "online", "capacity": 5}
    assert client.get(URL, headers=api("agent2")).get_json() == {"availability": "away", "capacity": 20}
    db.session.expire_all()
    assert availability.get(uid("agent")).availability == "online"
    assert db.session.query(AuditLog).filter_by(action="availability_changed", entity_id=str(uid("agent"))).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"availability": "busy"},
        {"availability": 1},
        {"capacity": -1},
        {"capacity": 1001},
        {"capacity": "20"},
        {"capacity": True},
        {"capacity": 2.5},
        {"user_id": 1, "availability": "online"},
        {},
        [],
        "online",
    ],
)
def test_bad_input_is_a_400_and_changes_nothing(client, api, body):
    resp = client.post(URL, json=body, headers=api("manager"))
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert "message" in resp.get_json()
    db.session.expire_all()
    assert db.session.get(availability.UserAvailability, uid("manager")) is None


def test_not_json_is_a_400(client, api):
    resp = client.post(URL, data="availability=online", headers={**api("agent"), "Content-Type": "text/plain"})
    assert resp.status_code == 400


def test_anonymous_and_privacy_officer_are_refused(client, api):
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=api("privacy")).status_code == 403
    assert client.post(URL, json={"availability": "online"}, headers=api("privacy")).status_code == 403


def test_navbar_toggle_goes_online_and_back(client, login_as):
    login_as("agent")
    html = client.get("/conversations/").get_data(as_text=True)
    assert 'id="availability-toggle"' in html
    assert ">Go online<" in html
    resp = client.post(
        "/me/availability/",
        data={"availability": "online", "next": "/conversations/", "csrf_token": csrf_token_from(html)},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/conversations/")
    db.session.expire_all()
    assert availability.get(uid("agent")).availability == "online"
    html = client.get("/conversations/").get_data(as_text=True)
    assert ">Go away<" in html


def test_navbar_toggle_refuses_bad_values_and_foreign_redirects(client, login_as):
    login_as("agent")
    html = client.get("/conversations/").get_data(as_text=True)
    resp = client.post(
        "/me/availability/",
        data={"availability": "asleep", "next": "https://evil.example/", "csrf_token": csrf_token_from(html)},
        follow_redirects=False,
    )
    assert resp.status_code == 302
    assert "evil.example" not in resp.headers["Location"]
    assert db.session.get(availability.UserAvailability, uid("agent")) is None


def test_toggle_needs_csrf(client, login_as):
    login_as("agent")
    resp = client.post("/me/availability/", data={"availability": "online"})
    assert resp.status_code == 400


# ---------------------------------------------------------------------------- page settings


def test_support_manager_sets_auto_assign_and_csat(client, login_as, page):
    login_as("manager")
    html = client.get("/workspace/").get_data(as_text=True)
    assert f'id="workspace-page-{page.id}"' in html
    resp = client.post(
        f"/workspace/{page.id}",
        data={"auto_assign": "balanced", "csat_enabled": "y", "csrf_token": csrf_token_from(html)},
        follow_redirects=True,
    )
    assert resp.status_code == 200
    assert "Settings saved for Test Page." in resp.get_data(as_text=True)
    db.session.expire_all()
    saved = db.session.get(Page, page.id)
    assert (saved.auto_assign, saved.csat_enabled) == ("balanced", True)
    resp = client.post(
        f"/workspace/{page.id}",
        data={"auto_assign": "random", "csrf_token": csrf_token_from(html)},
        follow_redirects=True,
    )
    assert "Settings not saved: auto_assign must be off, round_robin or balanced" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Page, page.id).auto_assign == "balanced"


def test_agents_cannot_change_page_settings(client, login_as, page):
    login_as("agent")
    assert client.get("/workspace/").status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(Page, page.id).auto_assign == "off"


@pytest.mark.parametrize(("value", "status"), [("round_robin", 200), ("sometimes", 400), (3, 422)])
def test_page_api_auto_assign(client, api, page, value, status):
    resp = client.put(
        f"/api/v1/page/{page.id}", json={"auto_assign": value, "csat_enabled": True}, headers=api("admin")
    )
    assert resp.status_code == status, resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Page, page.id).auto_assign == ("round_robin" if status == 200 else "off")


def test_the_openapi_document_lists_the_endpoint_for_the_fuzz_test(client, api):
    paths = client.get("/api/v1/_openapi", headers=api("admin")).get_json()["paths"]
    assert set(paths["/api/v1/me/availability"]) == {"get", "post"}
