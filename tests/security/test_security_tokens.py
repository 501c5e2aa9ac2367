"""JWTs: short-lived refresh tokens, refused once the account is deactivated, its password
changes or the address it logged in from is locked out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_jwt_extended import create_access_token, decode_token

from app import db
from tests.helpers import PASSWORD

NEW_PASSWORD = "another-long-password-42"


def _tokens(client, username: str = "agent") -> tuple[str, str]:
    resp = client.post(
        "/api/v1/security/login",
        json={"username": username, "password": PASSWORD, "provider": "db", "refresh": True},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    return body["access_token"], body["refresh_token"]


def _refresh(client, refresh_token: str):
    return client.post("/api/v1/security/refresh", headers={"Authorization": f"Bearer {refresh_token}"})


def _read(client, access_token: str):
    return client.get("/api/v1/contact/", headers={"Authorization": f"Bearer {access_token}"})


def _user(app, username: str = "agent"):
    db.session.expire_all()
    return app.appbuilder.sm.find_user(username=username)


@pytest.fixture
def restore_password(app):
    yield
    user = _user(app)
    app.appbuilder.sm.reset_password(user.id, PASSWORD)
    db.session.commit()


def test_refresh_tokens_are_short_lived(app, client):
    assert app.config["JWT_REFRESH_TOKEN_EXPIRES"] <= timedelta(days=1)
    _access, refresh = _tokens(client)
    claims = decode_token(refresh)
    assert claims["exp"] - claims["iat"] == int(app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds())


def test_fresh_tokens_work(app, client):
    access, refresh = _tokens(client)
    assert _read(client, access).status_code == 200
    resp = _refresh(client, refresh)
    assert resp.status_code == 200
    assert _read(client, resp.get_json()["access_token"]).status_code == 200


def test_deactivation_revokes_access_and_refresh_tokens(app, client):
    access, refresh = _tokens(client)
    user = _user(app)
    user.active = False
    db.session.commit()
    assert _read(client, access).status_code == 401
    assert _refresh(client, refresh).status_code == 401


def test_password_change_revokes_access_and_refresh_tokens(app, client, restore_password):
    access, refresh = _tokens(client)
    app.appbuilder.sm.reset_password(_user(app).id, NEW_PASSWORD)
    db.session.commit()
    assert _read(client, access).status_code == 401
    assert _refresh(client, refresh).status_code == 401
    # A new login with the new password gets working tokens again.
    resp = client.post("/api/v1/security/login", json={"username": "agent", "password": NEW_PASSWORD, "provider": "db"})
    assert resp.status_code == 200
    assert _read(client, resp.get_json()["access_token"]).status_code == 200


def test_lockout_of_the_login_source_revokes_its_tokens(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_THROTTLE_BASE_SECONDS", 0)
    access, refresh = _tokens(client)
    for _ in range(app.config["LOGIN_LOCKOUT_THRESHOLD"]):
        resp = client.post(
            "/api/v1/security/login", json={"username": "agent", "password": "wrong-password-xx", "provider": "db"}
        )
        assert resp.status_code == 401
    assert _read(client, access).status_code == 401
    assert _refresh(client, refresh).status_code == 401


def test_a_strangers_lockout_leaves_the_users_tokens_alone(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_THROTTLE_BASE_SECONDS", 0)
    access, refresh = _tokens(client)
    stranger = app.test_client()
    for _ in range(app.config["LOGIN_LOCKOUT_THRESHOLD"]):
        resp = stranger.post(
            "/api/v1/security/login",
            json={"username": "agent", "password": "wrong-password-xx", "provider": "db"},
            environ_base={"REMOTE_ADDR": "203.0.113.66"},
        )
        assert resp.status_code == 401
    assert _read(client, access).status_code == 200
    assert _refresh(client, refresh).status_code == 200


def test_a_token_without_the_account_stamp_is_refused(app, client):
    """Tokens minted elsewhere (or before this check existed) carry no stamp: refused."""

    token = create_access_token(identity=str(_user(app).id), additional_claims={"omni_pwd": "", "omni_src": ""})
    assert _read(client, token).status_code == 401
