"""Each role gets exactly its permissions (DESIGN.md's matrix), in the admin UI and the API."""

from __future__ import annotations

import pytest

from tests.helpers import api_token, login

ROLES = ["admin", "manager", "agent", "privacy"]

# path -> roles that may GET it (everyone else: 403; anonymous: login redirect)
VIEW_MATRIX = {
    "/pagemodelview/list/": {"admin", "manager", "privacy"},
    "/pagemodelview/add": {"admin"},
    "/contactmodelview/list/": {"admin", "manager", "agent", "privacy"},
    "/contactmodelview/show/{contact}": {"admin", "manager", "agent", "privacy"},
    "/contactmodelview/edit/{contact}": {"admin", "manager"},
    "/contactmodelview/notes/{contact}": {"admin", "manager", "agent"},
    "/contactmodelview/add": {"admin", "manager"},
    "/conversationmodelview/list/": {"admin", "manager", "agent"},
    "/conversations/": {"admin", "manager", "agent"},
    "/messagemodelview/list/": {"admin", "manager", "agent"},
    "/privacyrequestmodelview/list/": {"admin", "privacy"},
    "/privacyrequestmodelview/add": {"admin", "manager", "agent", "privacy"},
    "/auditlogmodelview/list/": {"admin", "privacy"},
    "/webhookeventmodelview/list/": {"admin"},
    "/webhookeventmodelview/add": set(),  # raw events are read-only, even for Admins
    "/users/list/": {"admin"},
    "/cannedreplymodelview/list/": {"admin", "manager", "agent"},
    "/cannedreplymodelview/add": {"admin", "manager"},
    "/notifications/": {"admin", "manager", "agent", "privacy"},
    "/roles/list/": {"admin"},
}

# (method, path) -> roles allowed (others 403; anonymous 401)
API_MATRIX = {
    ("GET", "/api/v1/page/"): {"admin", "manager", "privacy"},
    ("GET", "/api/v1/contact/"): {"admin", "manager", "agent", "privacy"},
    ("GET", "/api/v1/conversation/"): {"admin", "manager", "agent"},
    ("GET", "/api/v1/message/"): {"admin", "manager", "agent"},
    ("GET", "/api/v1/privacy_request/"): {"admin", "privacy"},
    ("POST", "/api/v1/privacy_request/"): {"admin", "manager", "agent", "privacy"},  # 400: no contact_id
    ("GET", "/api/v1/audit_log/"): {"admin", "privacy"},
    ("POST", "/api/v1/conversation/{conversation}/reply"): {"admin", "agent"},
    ("GET", "/api/v1/canned_reply/"): {"admin", "manager", "agent"},
    ("POST", "/api/v1/conversation/{conversation}/note"): {"admin", "manager", "agent"},
    ("GET", "/api/v1/notification/"): {"admin", "manager", "agent", "privacy"},
    ("POST", "/api/v1/contact/{contact}/legal_hold"): {"admin", "privacy"},
    ("DELETE", "/api/v1/contact/{contact}"): {"admin"},  # last: Admin's delete removes the row
}


def _fill(path: str, conversation) -> str:
    return path.format(contact=conversation.contact_id, conversation=conversation.id)


@pytest.mark.parametrize("role", ROLES)
def test_views_follow_the_matrix(app, role, conversation):
    client = app.test_client()
    assert login(client, role).status_code == 302
    wrong = []
    for path, allowed in VIEW_MATRIX.items():
        resp = client.get(_fill(path, conversation))
        ok = resp.status_code == 200 if role in allowed else resp.status_code == 403
        if not ok:
            wrong.append((path, resp.status_code))
    assert wrong == [], f"{role}: unexpected answers {wrong}"


def test_anonymous_gets_the_login_page(client, conversation):
    for path in VIEW_MATRIX:
        resp = client.get(_fill(path, conversation))
        assert resp.status_code == 302, path
        assert "/login" in resp.headers["Location"], path


@pytest.mark.parametrize("role", ROLES)
def test_api_follows_the_matrix(app, role, conversation):
    client = app.test_client()
    headers = {"Authorization": f"Bearer {api_token(client, role)}"}
    wrong = []
    for (method, path), allowed in API_MATRIX.items():
        kwargs = {"json": {"text": "hello", "human_agent": False}} if method in ("POST", "PUT") else {}
        resp = client.open(_fill(path, conversation), method=method, headers=headers, **kwargs)
        ok = resp.status_code != 403 and resp.status_code < 500 if role in allowed else resp.status_code == 403
        if not ok:
            wrong.append((method, path, resp.status_code))
    assert wrong == [], f"{role}: unexpected answers {wrong}"


def test_api_without_token_is_401(client, conversation):
    for method, path in API_MATRIX:
        resp = client.open(_fill(path, conversation), method=method, json={})
        assert resp.status_code == 401, (method, path)


def test_menus_per_role(app):
    expected = {
        "admin": {"Pages", "Contacts", "Inbox", "Privacy Requests", "Audit Log", "Webhook Events", "List Users"},
        "manager": {"Pages", "Contacts", "Inbox", "Conversations"},
        "agent": {"Contacts", "Inbox", "Conversations"},
        "privacy": {"Pages", "Contacts", "Privacy Requests", "Audit Log"},
    }
    hidden = {
        "admin": set(),
        "manager": {"Audit Log", "Webhook Events", "List Users", "Privacy Requests"},
        "agent": {"Pages", "Audit Log", "Webhook Events", "List Users", "Privacy Requests"},
        "privacy": {"Inbox", "Webhook Events", "List Users", "Conversations"},
    }
    for role in ROLES:
        client = app.test_client()
        assert login(client, role).status_code == 302, role
        html = client.get("/").get_data(as_text=True)
        for item in expected[role]:
            assert f">{item}<" in html or f"> {item}" in html or item in html, (role, item)
        for item in hidden[role]:
            assert f"{item}</a>" not in html, (role, item)
            assert f"{item}\n" not in html, (role, item)
