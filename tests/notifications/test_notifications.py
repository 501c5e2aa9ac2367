"""Notifications: the bell on every page, the list, marking read, the REST resource (own only)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import db
from app.notifications.exceptions import NotificationError
from app.notifications.models import Notification
from app.notifications.services import notify, unread_count
from app.privacy.accounts import _forget_user
from tests.helpers import csrf_token_from, uid


def _notify(username: str, conversation=None, kind: str = "mention") -> Notification:
    row = notify(uid(username), kind, conversation_id=conversation.id if conversation else None)
    db.session.commit()
    return row


@pytest.mark.parametrize("username", ["admin", "manager", "agent", "privacy"])
def test_every_role_has_a_bell_with_the_unread_count(login_as, username):
    _notify(username)
    _notify(username, kind="privacy_due")
    client = login_as(username)
    html = client.get("/notifications/").get_data(as_text=True)
    assert 'id="notification-bell"' in html
    assert 'id="notification-count"' in html
    assert ">2</span>" in html
    assert "Notifications: 2 unread" in html
    assert client.get("/notifications/count").get_json() == {"unread": 2}


def test_mark_one_and_all_read(login_as, conversation):
    first = _notify("agent", conversation)
    _notify("agent", conversation)
    theirs = _notify("agent2", conversation)
    client = login_as("agent")
    html = client.get("/notifications/").get_data(as_text=True)
    assert "mentioned you in a note" in html
    assert "Ada Lovelace, conversation #" in html
    assert f"conversation #{conversation.id}" in html
    token = csrf_token_from(html)
    assert client.post(f"/notifications/{theirs.id}/read", data={"csrf_token": token}).status_code == 404
    assert client.post(f"/notifications/{theirs.id}/open", data={"csrf_token": token}).status_code == 404
    resp = client.post(f"/notifications/{first.id}/open", data={"csrf_token": token})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/conversations/{conversation.id}")
    assert unread_count(uid("agent")) == 1
    assert client.post("/notifications/read-all", data={"csrf_token": token}).status_code == 302
    assert unread_count(uid("agent")) == 0
    assert unread_count(uid("agent2")) == 1
    assert db.session.get(Notification, theirs.id).read_at is None


def test_rest_shows_only_the_callers_own(client, api, conversation):
    mine = _notify("agent", conversation)
    theirs = _notify("agent2", conversation)
    headers = api("agent")
    data = client.get("/api/v1/notification/", headers=headers).get_json()
    assert data["ids"] == [mine.id]
    assert data["result"][0]["kind"] == "mention"
    assert data["result"][0]["conversation_id"] == conversation.id
    assert client.get(f"/api/v1/notification/{theirs.id}", headers=headers).status_code == 404
    resp = client.put(f"/api/v1/notification/{theirs.id}", json={"read_at": "2026-01-01T10:00:00"}, headers=headers)
    assert resp.status_code == 404
    db.session.expire_all()
    assert db.session.get(Notification, theirs.id).read_at is None
    resp = client.put(f"/api/v1/notification/{mine.id}", json={"read_at": "2026-01-01T10:00:00"}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    resp = client.put(f"/api/v1/notification/{mine.id}", json={"user_id": uid("agent2")}, headers=headers)
    assert resp.status_code == 422  # only read_at may change
    db.session.expire_all()
    row = db.session.get(Notification, mine.id)
    assert row.read_at is not None
    assert row.user_id == uid("agent")
    assert client.get("/api/v1/notification/", headers=api("privacy")).get_json()["ids"] == []


def test_notify_takes_new_kinds_but_refuses_garbage(login_as):
    _notify("agent", kind="csat_low")  # a kind added later is shown by its name
    assert "csat_low" in login_as("agent").get("/notifications/").get_data(as_text=True)
    for kind in ("", "Mention!", "x" * 40, 5):
        with pytest.raises(NotificationError):
            notify(uid("agent"), kind)
    assert [n.kind for n in db.session.scalars(select(Notification))] == ["csat_low"]


def test_a_removed_account_takes_its_notifications_along(app, conversation):
    sm = app.appbuilder.sm
    user = sm.add_user("leaver", "Leaver", "Test", "leaver@example.test", [sm.find_role("Agent")], "x-password-1")
    db.session.commit()
    user_id = user.id
    notify(user_id, "mention", conversation_id=conversation.id)
    db.session.commit()
    _forget_user(user_id)
    db.session.commit()
    assert list(db.session.scalars(select(Notification).where(Notification.user_id == user_id))) == []


def test_the_bell_stops_counting_at_99_plus(login_as):
    db.session.add_all(Notification(user_id=uid("agent"), kind="mention") for _ in range(120))
    db.session.commit()
    assert unread_count(uid("agent")) == 100
    html = login_as("agent").get("/notifications/").get_data(as_text=True)
    assert "Notifications: 99+ unread" in html
