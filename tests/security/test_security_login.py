"""Login protection: per-source throttling and lockout, admin unlock, no user enumeration,
shared rate limiting. A stranger's failures never lock the real user out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import flask_appbuilder.security.manager as fab_manager
import pytest
import sqlalchemy as sa
import werkzeug.security
from flask_appbuilder.exceptions import PasswordComplexityValidationError

from app import db
from app.audit.models import AuditLog
from app.core.queues import get_redis
from app.web import login_guard
from app.web.security import password_policy, ratelimit_storage_uri
from tests.helpers import PASSWORD, api_token, csrf_token_from, login

ROOT = Path(__file__).resolve().parents[2]
WRONG = "not-the-password-at-all"
HERE = "127.0.0.1"  # the test client's address
STRANGER = {"REMOTE_ADDR": "203.0.113.66"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}


@pytest.fixture(autouse=True)
def _no_delays(app, monkeypatch):
    """Growing delays are tested on their own (with a moved clock); elsewhere they are off."""
    monkeypatch.setitem(app.config, "LOGIN_THROTTLE_BASE_SECONDS", 0)


def _login_from(client, username: str, password: str, environ: dict):
    token = csrf_token_from(client.get("/login/", environ_base=environ).get_data(as_text=True))
    return client.post(
        "/login/",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base=environ,
    )


def _locked_sources(app, username: str) -> list[str]:
    return login_guard.locked_addresses(f"u{_user(app, username).id}")


def _user(app, username: str):
    db.session.expire_all()
    return app.appbuilder.sm.find_user(username=username)


def _logged_in(client) -> bool:
    return client.get("/").status_code == 200


def _jwt_login(client, username: str, password: str):
    return client.post(
        "/api/v1/security/login", json={"username": username, "password": password, "provider": "db", "refresh": False}
    )


def _lock(client, username: str, app) -> None:
    with app.app_context():
        for _ in range(app.config["LOGIN_LOCKOUT_THRESHOLD"]):
            resp = login(client, username, WRONG)
            assert resp.status_code == 302
    assert _user(app, username).fail_login_count == app.config["LOGIN_LOCKOUT_THRESHOLD"]
    assert _locked_sources(app, username) == [HERE]


def _admin_unlock(app, username: str) -> None:
    user_id = _user(app, username).id
    # A second browser: its own app context, so `g` (CSRF token, current user) is its own.
    with app.app_context():
        admin = app.test_client()
        assert login(admin, "admin").status_code == 302
        listing = admin.get("/users/list/")
        assert listing.status_code == 200
        body = listing.get_data(as_text=True)
        assert "Unlock" in body
        resp = admin.post(
            "/users/action_post",
            data={"action": "unlock", "rowid": str(user_id), "csrf_token": csrf_token_from(body)},
        )
        assert resp.status_code == 302


def test_lockout_through_the_login_form_and_admin_unlock(app, client):
    _lock(client, "agent", app)
    # The right password no longer works while locked.
    resp = login(client, "agent", PASSWORD)
    assert resp.status_code == 302
    assert "/login" in resp.headers["Location"]
    assert not _logged_in(client)

    _admin_unlock(app, "agent")
    assert _user(app, "agent").fail_login_count == 0
    assert _locked_sources(app, "agent") == []

    unlocked = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "account_unlocked")).all()
    assert [row.entity_id for row in unlocked] == [str(_user(app, "agent").id)]
    resp = login(client, "agent", PASSWORD)
    assert resp.status_code == 302
    assert "/login" not in resp.headers["Location"]
    assert _logged_in(client)


def test_lockout_applies_to_the_jwt_login_api(app, client):
    for _ in range(app.config["LOGIN_LOCKOUT_THRESHOLD"]):
        assert _jwt_login(client, "manager", WRONG).status_code == 401
    locked = _jwt_login(client, "manager", PASSWORD)
    assert locked.status_code == 401
    assert "access_token" not in locked.get_data(as_text=True)

    _admin_unlock(app, "manager")
    assert api_token(client, "manager")


def test_only_admins_can_unlock(app, client):
    _lock(app.test_client(), "agent", app)
    agent_id = _user(app, "agent").id
    with app.app_context():
        manager = app.test_client()
        assert login(manager, "manager").status_code == 302
        token = csrf_token_from(manager.get("/resetmypassword/form").get_data(as_text=True))
        resp = manager.post(
            "/users/action_post", data={"action": "unlock", "rowid": str(agent_id), "csrf_token": token}
        )
        assert resp.status_code == 302
        assert resp.headers["Location"] == "."  # FAB refuses the action with a flash and a redirect
    assert _user(app, "agent").fail_login_count == app.config["LOGIN_LOCKOUT_THRESHOLD"]
    assert _locked_sources(app, "agent") == [HERE]


def test_a_stranger_cannot_lock_out_the_real_user(app):
    """Failures from one address lock that address out of the account, not the account."""
    stranger = app.test_client()
    with app.app_context():
        for _ in range(3 * app.config["LOGIN_LOCKOUT_THRESHOLD"]):
            assert _login_from(stranger, "admin", WRONG, STRANGER).status_code == 302
            assert (
                stranger.post(
                    "/api/v1/security/login",
                    json={"username": "admin", "password": WRONG, "provider": "db"},
                    environ_base=STRANGER,
                ).status_code
                == 401
            )
        # The stranger, even with the right password now, stays locked out...
        resp = _login_from(stranger, "admin", PASSWORD, STRANGER)
        assert resp.status_code == 302
        assert "/login" in resp.headers["Location"]
    assert _locked_sources(app, "admin") == [STRANGER["REMOTE_ADDR"]]
    # ...while the Admin, from their own address, logs in through the form and the API.
    with app.app_context():
        owner = app.test_client()
        resp = _login_from(owner, "admin", PASSWORD, OWNER)
        assert resp.status_code == 302
        assert "/login" not in resp.headers["Location"]
        assert owner.get("/users/list/", environ_base=OWNER).status_code == 200
        resp = owner.post(
            "/api/v1/security/login",
            json={"username": "admin", "password": PASSWORD, "provider": "db"},
            environ_base=OWNER,
        )
        assert resp.status_code == 200

    locked = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "account_locked")).all()
    assert [row.ip for row in locked] == [STRANGER["REMOTE_ADDR"]]


def test_growing_delays_per_source(app, client, monkeypatch):
    """After the free attempts each failure makes that source wait twice as long; attempts
    during the wait are refused unchecked (the right password too) and are not counted."""
    monkeypatch.setitem(app.config, "LOGIN_THROTTLE_BASE_SECONDS", 10)
    clock = [1_000_000.0]
    monkeypatch.setattr(login_guard, "_now", lambda: clock[0])
    free = app.config["LOGIN_THROTTLE_FREE_ATTEMPTS"]
    for _ in range(free):
        assert _jwt_login(client, "agent", WRONG).status_code == 401
    # 3rd failure: wait 10 s. The right password is refused meanwhile, from this address only.
    assert _jwt_login(client, "agent", PASSWORD).status_code == 401
    assert (
        client.post(
            "/api/v1/security/login",
            json={"username": "agent", "password": PASSWORD, "provider": "db"},
            environ_base=OWNER,
        ).status_code
        == 200
    )
    clock[0] += 11
    assert _jwt_login(client, "agent", WRONG).status_code == 401  # 4th failure: wait 20 s
    clock[0] += 11
    assert _jwt_login(client, "agent", PASSWORD).status_code == 401
    clock[0] += 10
    assert _jwt_login(client, "agent", PASSWORD).status_code == 200
    assert _locked_sources(app, "agent") == []

    reasons = [
        (row.changes or {}).get("reason")
        for row in db.session.scalars(
            sa.select(AuditLog).where(AuditLog.action == "login_failed").order_by(AuditLog.id)
        )
    ]
    assert reasons == ["bad_password"] * free + ["throttled", "bad_password", "throttled"]


def test_failure_counters_live_in_redis(app, client):
    """Shared by every worker and host: the counters are a Redis hash per account."""

    assert _jwt_login(client, "agent", WRONG).status_code == 401
    key = f"{login_guard.PREFIX}u{_user(app, 'agent').id}"
    assert get_redis().hget(key, f"{HERE}:n") == b"1"
    assert api_token(client, "agent")  # a success forgets this source's failures
    assert get_redis().hget(key, f"{HERE}:n") is None


def _form_failure_message(client, username: str, password: str) -> str:
    resp = login(client, username, password)
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    flashes = re.findall(r'<div class="alert alert-[a-z]+">(.*?)</div>', page, re.S)
    assert flashes, "no flashed message"
    return " ".join(" ".join(f.split()) for f in flashes)


def test_no_user_enumeration_by_message(app, client):
    _lock(app.test_client(), "agent2", app)
    unknown = _form_failure_message(client, "nobody-here", WRONG)
    wrong = _form_failure_message(client, "agent", WRONG)
    locked = _form_failure_message(client, "agent2", PASSWORD)
    assert unknown == wrong == locked
    assert "Invalid login" in unknown

    bodies = {
        _jwt_login(client, "nobody-here", WRONG).get_data(as_text=True),
        _jwt_login(client, "agent", WRONG).get_data(as_text=True),
        _jwt_login(client, "agent2", PASSWORD).get_data(as_text=True),
    }
    assert len(bodies) == 1


def test_no_user_enumeration_by_timing(app, client, monkeypatch):
    """Each outcome costs one password hash check (the expensive part) and one write."""

    calls: list[str] = []
    real = werkzeug.security.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(pwhash.split("$", 1)[0])
        return real(pwhash, password)

    monkeypatch.setattr(werkzeug.security, "check_password_hash", counting)
    monkeypatch.setattr(fab_manager, "check_password_hash", counting)
    _lock(app.test_client(), "agent2", app)

    # Work done, not wall-clock time: every outcome costs exactly one scrypt check.
    for label, username, password in (
        ("unknown", "nobody-here", WRONG),
        ("wrong", "agent", WRONG),
        ("locked", "agent2", PASSWORD),
    ):
        for _ in range(5):
            calls.clear()
            assert _jwt_login(client, username, password).status_code == 401
            assert len(calls) == 1, (label, calls)
            assert calls[0].startswith("scrypt"), (label, calls)


def test_password_policy():
    for bad in ("short", "elevenchars"):
        with pytest.raises(PasswordComplexityValidationError):
            password_policy(bad)
    password_policy("twelve-chars")


def test_password_policy_in_the_user_form(app, client):
    assert login(client, "admin").status_code == 302
    form = client.get("/users/add").get_data(as_text=True)
    data = {
        "first_name": "New",
        "last_name": "User",
        "username": "longusername1",
        "email": "new@example.test",
        "active": "y",
        "roles": str(app.appbuilder.sm.find_role("Agent").id),
        "password": "longusername1",
        "conf_password": "longusername1",
        "csrf_token": csrf_token_from(form),
    }
    resp = client.post("/users/add", data=data)
    assert resp.status_code == 200
    assert "Password must not be the username" in resp.get_data(as_text=True)
    resp = client.post("/users/add", data={**data, "password": "short", "conf_password": "short"})
    assert "at least 12 characters" in resp.get_data(as_text=True)
    assert _user(app, "longusername1") is None


def test_session_cookie_flags(client):
    resp = login(client, "agent")
    cookie = next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


RATE_SCRIPT = r"""
import json, re, sys
from app import create_app

app = create_app()
client = app.test_client()
form, api = int(sys.argv[1]), int(sys.argv[2])
forwarded = sys.argv[3].split(",") if len(sys.argv) > 3 else []
out = {"form": [], "api": []}
for i in range(form):
    headers = {"X-Forwarded-For": forwarded[i % len(forwarded)]} if forwarded else {}
    page = client.get("/login/").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = {"username": "nobody", "password": "wrong-password", "csrf_token": token}
    out["form"].append(client.post("/login/", data=data, headers=headers).status_code)
for _ in range(api):
    resp = client.post("/api/v1/security/login", json={"username": "nobody", "password": "x" * 12, "provider": "db"})
    out["api"].append(resp.status_code)
print("RESULT" + json.dumps(out))
"""


def _rate_process(storage: str, form: int, api: int, forwarded: str = "", hops: int = 0) -> dict:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RATELIMIT_ENABLED": "true",
        "AUTH_RATE_LIMIT": "5 per 1 hour",
        "RATELIMIT_STORAGE_URI": storage,
        "PROXY_FIX_HOPS": str(hops),
    }
    proc = subprocess.run(
        [sys.executable, "-c", RATE_SCRIPT, str(form), str(api), *([forwarded] if forwarded else [])],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def test_rate_limiting_across_two_processes(app):
    storage = ratelimit_storage_uri(app.config)
    assert storage.startswith(("redis://", "rediss://", "redis+unix://"))
    first = _rate_process(storage, form=3, api=0)
    assert 429 not in first["form"]
    # A second process (another gunicorn worker) sees the same counters: the 6th attempt is refused.
    second = _rate_process(storage, form=3, api=6)
    assert second["form"][:2] == [302, 302]
    assert second["form"][2] == 429
    # The JWT login is limited too (its own counter).
    assert second["api"][:5] == [401] * 5
    assert second["api"][5] == 429


def test_rate_limit_counts_per_client_behind_a_proxy(app):
    """With PROXY_FIX_HOPS the limit keys on the client's address, not the load balancer's."""
    storage = ratelimit_storage_uri(app.config)
    # Alternating two clients: 4 attempts each stay under "5 per hour"; all share one proxy.
    result = _rate_process(storage, form=8, api=0, forwarded="198.51.100.1,198.51.100.2", hops=1)
    assert 429 not in result["form"]
    # The first client's 5th and 6th attempts: the 6th is refused.
    result = _rate_process(storage, form=2, api=0, forwarded="198.51.100.1", hops=1)
    assert result["form"] == [302, 429]
