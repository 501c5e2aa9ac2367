"""Every role against every endpoint, generated from app.url_map.

The expectation comes from the permission matrix (app.core.roles.FAB_ROLES) and each view's
`class_permission_name` / `method_permission_name` / `base_permissions`, evaluated the way
Flask-AppBuilder evaluates builtin roles. An endpoint that has no permission check and is not
on the public allow-list below fails the test, so a new unprotected route cannot slip in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask_appbuilder.api import BaseApi
from werkzeug.routing import Rule

from app import db
from app.conversations.models import Message
from app.core.roles import FAB_ROLES
from tests.helpers import csrf_token_from, login

ROLES = {
    "anonymous": None,
    "admin": "Admin",
    "manager": "Support Manager",
    "agent": "Agent",
    "privacy": "Privacy Officer",
}

# Reachable without logging in, by design (DESIGN.md "Public routes" + login machinery).
PUBLIC_ENDPOINTS = {
    "static",
    "appbuilder.static",
    "AuthDBView.login",
    "AuthDBView.logout",
    "SecurityApi.login",
    "health.healthz",
    "health.readyz",
    "health.scheduler_health",  # a probe: statuses only, no host, process or error text
    "webhooks.verify",
    "webhooks.receive",
    "LocaleView.index",  # switches the UI language in the session; nothing else
    "UtilView.back",  # redirects to the previous page
    "favicon",  # redirects to the static icon; browsers ask for it before anyone logs in
    # the requester's own access export: a single-use, expiring 256-bit token plus the request's
    # confirmation code (CSRF, rate-limited, five wrong codes burn it); see app/privacy/export_link.py
    "privacy_export.export_download",
}
PUBLIC_RULE_PREFIXES = ("/privacy", "/static/")

# No decorator, but the view checks permissions itself (asserted separately below).
SELF_CHECKED = {
    "DashboardIndexView.index",  # redirects anonymous users to the login page
    "SecurityApi.refresh",  # needs a refresh JWT
    "metrics.metrics",  # METRICS_TOKEN or METRICS_ALLOW_NETS (asserted below)
}
SELF_CHECKED_METHODS = {"action", "action_post"}  # FAB checks the action's permission inside

# FAB's own read-only APIs that accept the browser session (GET only, so no CSRF exposure).
BROWSER_SESSION_APIS = {"MenuApi.get_menu_data", "OpenApi.get"}

MISSING_ID = 999999


@dataclass
class Target:
    rule: Rule
    endpoint: str
    view: object
    method_name: str
    permission: str | None  # "can_x" on view.class_permission_name, None when not decorated


def _views(app) -> dict[str, object]:
    return {v.blueprint.name: v for v in app.appbuilder.baseviews if getattr(v, "blueprint", None) is not None}


def _targets(app) -> list[Target]:
    views = _views(app)
    out = []
    for rule in app.url_map.iter_rules():
        bp, _, method_name = rule.endpoint.partition(".")
        view = views.get(bp)
        permission = None
        if view is not None and method_name:
            func = getattr(view, method_name, None)
            if func is not None and hasattr(func, "_permission_name"):
                permission = "can_" + view.get_method_permission(method_name)
        out.append(Target(rule, rule.endpoint, view, method_name, permission))
    return out


def _is_public(target: Target) -> bool:
    return target.endpoint in PUBLIC_ENDPOINTS or target.rule.rule.startswith(PUBLIC_RULE_PREFIXES)


def _role_allows(role: str | None, permission: str, view: object) -> bool:
    """FAB's builtin-role check, plus the view's own base_permissions gate."""
    if role is None or permission not in view.base_permissions:
        return False
    return any(
        re.match(view_re, view.class_permission_name) and re.match(perm_re, permission)
        for view_re, perm_re in FAB_ROLES.get(role, [])
    )


def _url(target: Target, http_method: str) -> str:
    values = {}
    mutating = http_method != "GET"
    for arg in target.rule.arguments:
        if arg == "name":
            actions = getattr(target.view, "actions", {}) or {}
            values[arg] = next(iter(actions), "none")
        elif arg == "filename":
            values[arg] = "nothing-here.csv"
        elif arg == "version":
            values[arg] = "v1"
        elif arg == "group_by":
            values[arg] = "0"
        elif arg == "locale":
            values[arg] = "en"
        else:  # ids: a real one to read, a missing one to (not) change or delete
            values[arg] = MISSING_ID if mutating or "delete" in target.rule.rule else 1
    return target.rule.build(values, append_unknown=False)[1]


@pytest.fixture
def objects(conversation):
    """One row of each main table, so reads with id 1 reach real objects."""

    db.session.add(Message(conversation_id=conversation.id, direction="in", text="hello", status="received"))
    db.session.commit()


def test_every_endpoint_is_protected_or_explicitly_public(app):
    unprotected = [
        f"{t.rule.rule} ({t.endpoint})"
        for t in _targets(app)
        if t.permission is None
        and not _is_public(t)
        and t.endpoint not in SELF_CHECKED
        and t.method_name not in SELF_CHECKED_METHODS
    ]
    assert unprotected == [], "endpoints without a permission check: " + ", ".join(unprotected)


def _session_for(app, client, username: str | None) -> str:
    """Log in (unless anonymous) and return a CSRF token of that browser session."""
    if username is None:
        return csrf_token_from(client.get("/login/").get_data(as_text=True))
    assert login(client, username).status_code == 302
    return csrf_token_from(client.get("/resetmypassword/form").get_data(as_text=True))


@pytest.mark.parametrize("username", list(ROLES))
def test_role_against_every_endpoint(app, objects, api, username):
    role = ROLES[username]
    jwt = api(username) if username != "anonymous" else {}
    problems: list[str] = []
    checked = 0
    # Own app context: `g` (current user, CSRF token) belongs to this browser only.
    with app.app_context():
        client = app.test_client()
        csrf = _session_for(app, client, None if username == "anonymous" else username)
        api_client = app.test_client()  # no cookies: JWT only
        for target in _targets(app):
            if target.permission is None or target.view is None or target.method_name == "download":
                continue
            allowed = _role_allows(role, target.permission, target.view)
            is_api = isinstance(target.view, BaseApi)
            for http_method in sorted(target.rule.methods - {"HEAD", "OPTIONS"}):
                url = _url(target, http_method)
                if is_api:
                    kwargs = {"headers": jwt}
                    if http_method in ("POST", "PUT"):
                        kwargs["json"] = {}
                    resp = api_client.open(url, method=http_method, **kwargs)
                else:
                    data = {"csrf_token": csrf} if http_method != "GET" else None
                    resp = client.open(url, method=http_method, data=data)
                checked += 1
                status = resp.status_code
                location = resp.headers.get("Location", "")
                to_login = status == 302 and "/login" in location
                where = f"{http_method} {url} [{target.view.class_permission_name}.{target.permission}]"
                if status >= 500:
                    problems.append(f"{where}: {status}")
                    db.session.rollback()  # PostgreSQL: keep later requests out of the failed transaction
                elif allowed and (status in (401, 403) or to_login):
                    problems.append(f"{where}: refused ({status}) but {role} has the permission")
                elif not allowed and role is None and not (status in (401, 403) or to_login):
                    problems.append(f"{where}: anonymous got {status}")
                elif not allowed and role is not None and status not in (401, 403):
                    problems.append(f"{where}: {role} got {status} without the permission")
    assert checked > 100
    assert problems == [], f"{len(problems)} problem(s):\n" + "\n".join(problems)


@pytest.mark.parametrize("username", [u for u in ROLES if u != "admin"])
def test_actions_refused_without_their_permission(app, username):
    """FAB's action routes check the action's permission inside; nobody but its holders runs it."""
    role = ROLES[username]
    problems = []
    with app.app_context():
        client = app.test_client()
        csrf = _session_for(app, client, None if username == "anonymous" else username)
        for view in _views(app).values():
            for name in getattr(view, "actions", {}) or {}:
                permission = view.get_action_permission_name(name)
                if _role_allows(role, permission, view):
                    continue
                base = view.route_base
                resp = client.post(
                    f"{base}/action_post",
                    data={"action": name, "rowid": str(MISSING_ID), "csrf_token": csrf},
                )
                with client.session_transaction() as sess:
                    flashes = [msg for _cat, msg in sess.pop("_flashes", [])]
                if resp.status_code != 403 and "Access is Denied" not in flashes:
                    problems.append(f"{view.class_permission_name}.{name}: {resp.status_code} {flashes}")
    assert problems == []


def test_only_admins_delete_rows(app):
    """DESIGN.md: only Admins delete rows in the admin grids (and the APIs): the delete verb is
    the Admin's alone, wherever a view or API offers deletion."""
    checked = 0
    for target in _targets(app):
        if target.permission is None or target.method_name not in ("delete", "muldelete"):
            continue
        assert target.permission == "can_delete", target.endpoint
        checked += 1
        for name, role in ROLES.items():
            if role is not None and role != "Admin":
                assert not _role_allows(role, target.permission, target.view), (name, target.endpoint)
    assert checked >= 4


def test_legal_hold_is_set_by_privacy_officers_and_admins_only(app):
    views = [v for v in app.appbuilder.baseviews if getattr(v, "class_permission_name", "") == "Contact"]
    allowed = {
        name
        for name, role in ROLES.items()
        if role and all(_role_allows(role, "can_legal_hold", v) for v in views if hasattr(v, "legal_hold"))
    }
    assert allowed == {"admin", "privacy"}


def test_metrics_refuse_other_addresses_without_token(app, client):
    resp = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert resp.status_code == 403


def test_refresh_needs_a_refresh_token(app, client, api):
    assert client.post("/api/v1/security/refresh").status_code == 401
    # An access token is not a refresh token.
    assert client.post("/api/v1/security/refresh", headers=api("admin")).status_code == 422


def test_fab_file_download_routes_are_off(app, login_as):
    client = login_as("admin")
    urls = [t.rule.rule for t in _targets(app) if t.method_name == "download"]
    assert urls
    for rule in urls:
        assert client.get(rule.replace("<string:filename>", "..")).status_code == 404


def test_dashboard_needs_a_login(app, client):
    resp = client.get("/")
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]


@pytest.mark.parametrize(
    ("username", "url", "status"),
    [
        ("agent", "/pagemodelview/list/", 403),
        ("agent", "/api/v1/page/", 403),
        ("privacy", "/messagemodelview/list/", 403),
        ("privacy", "/conversations/", 403),
        ("manager", "/auditlogmodelview/list/", 403),
        ("manager", "/users/list/", 403),
        ("agent", "/roles/list/", 403),
        ("privacy", "/auditlogmodelview/list/", 200),
        ("manager", "/pagemodelview/list/", 200),
        ("agent", "/contactmodelview/list/", 200),
        ("admin", "/users/list/", 200),
    ],
)
def test_design_matrix_spot_checks(app, api, username, url, status):
    """A few rows of DESIGN.md's role table, checked against real responses."""
    with app.app_context():
        client = app.test_client()
        if url.startswith("/api/"):
            resp = client.get(url, headers=api(username))
        else:
            assert login(client, username).status_code == 302
            resp = client.get(url)
    assert resp.status_code == status


def test_apis_refuse_a_browser_session(app, login_as):
    """JWT only: a logged-in session cookie alone gets 401 from every API of ours."""
    client = login_as("admin")
    assert client.get("/contactmodelview/list/").status_code == 200  # the session works for views
    problems = []
    for target in _targets(app):
        if not isinstance(target.view, BaseApi) or target.permission is None:
            continue
        if target.endpoint in BROWSER_SESSION_APIS:
            assert target.rule.methods <= {"GET", "HEAD", "OPTIONS"}, target.endpoint
            continue
        for http_method in sorted(target.rule.methods - {"HEAD", "OPTIONS"}):
            url = _url(target, http_method)
            resp = client.open(url, method=http_method, json={} if http_method in ("POST", "PUT") else None)
            if resp.status_code != 401:
                problems.append(f"{http_method} {url}: {resp.status_code}")
    assert problems == []


@pytest.mark.parametrize(
    "url",
    ["/contactmodelview/add", "/pagemodelview/add", "/users/add", "/users/action_post", "/resetmypassword/form"],
)
def test_form_post_without_csrf_token_is_refused(app, login_as, url):
    client = login_as("admin")
    resp = client.post(url, data={"name": "x", "action": "unlock", "rowid": "1"})
    assert resp.status_code == 400
    assert "CSRF token is missing" in resp.get_data(as_text=True)


def test_form_post_with_a_forged_csrf_token_is_refused(app, login_as):
    client = login_as("admin")
    resp = client.post("/pagemodelview/add", data={"name": "x", "csrf_token": "forged"})
    assert resp.status_code == 400
    assert "CSRF token is invalid" in resp.get_data(as_text=True)
