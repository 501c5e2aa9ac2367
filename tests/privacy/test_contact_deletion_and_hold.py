"""Only erasure removes a contact: Support Managers never delete contacts or touch legal_hold,
nobody deletes a contact under legal hold, and whoever marks a minor cannot approve the erasure."""

from __future__ import annotations

import pytest

from app import db
from app.contacts.models import Contact
from app.privacy import decisions
from app.privacy.exceptions import PrivacyError
from app.privacy.models import PrivacyRequest
from tests.helpers import csrf_token_from, login


def _still_there(contact_id: int) -> bool:
    db.session.expire_all()
    return db.session.get(Contact, contact_id) is not None


def _browser(app, username: str):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client, csrf_token_from(client.get("/resetmypassword/form").get_data(as_text=True))


def _flashes(client) -> list[str]:
    with client.session_transaction() as sess:
        return [msg for _cat, msg in sess.pop("_flashes", [])]


def test_support_manager_cannot_delete_a_contact_through_the_api(client, api, contact):
    resp = client.delete(f"/api/v1/contact/{contact.id}", headers=api("manager"))
    assert resp.status_code == 403
    assert _still_there(contact.id)


def test_support_manager_cannot_delete_a_contact_from_the_grid(app, contact):
    client, csrf = _browser(app, "manager")
    resp = client.post(f"/contactmodelview/delete/{contact.id}", data={"csrf_token": csrf})
    assert resp.status_code == 403
    assert _still_there(contact.id)


def test_delete_buttons_only_for_those_who_may_delete(app, contact):
    delete_url = f"/contactmodelview/delete/{contact.id}"
    for username, shown in (("admin", True), ("manager", False), ("agent", False), ("privacy", False)):
        client, _csrf = _browser(app, username)
        html = client.get("/contactmodelview/list/").get_data(as_text=True)
        assert (delete_url in html) is shown, username


def test_nobody_deletes_a_contact_under_legal_hold(app, client, api, contact):
    contact.legal_hold = True
    db.session.commit()
    resp = client.delete(f"/api/v1/contact/{contact.id}", headers=api("admin"))
    assert resp.status_code == 409
    assert "legal hold" in resp.get_json()["message"]
    assert _still_there(contact.id)

    browser, csrf = _browser(app, "admin")
    resp = browser.post(f"/contactmodelview/delete/{contact.id}", data={"csrf_token": csrf})
    assert resp.status_code == 302
    assert any("legal hold" in msg for msg in _flashes(browser))
    assert _still_there(contact.id)


def test_admin_deletes_a_contact_without_hold(client, api, contact):
    resp = client.delete(f"/api/v1/contact/{contact.id}", headers=api("admin"))
    assert resp.status_code == 200
    assert not _still_there(contact.id)


@pytest.mark.parametrize("value", [True, False])
def test_support_manager_cannot_set_or_clear_legal_hold_through_the_api(client, api, contact, value):
    contact.legal_hold = not value
    db.session.commit()
    resp = client.put(f"/api/v1/contact/{contact.id}", json={"legal_hold": value}, headers=api("manager"))
    assert resp.status_code == 403
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).legal_hold is (not value)
    # The rest of the edit rights stay.
    resp = client.put(f"/api/v1/contact/{contact.id}", json={"tags": "vip"}, headers=api("manager"))
    assert resp.status_code == 200


def test_support_manager_cannot_set_legal_hold_in_the_edit_form(app, contact):
    client, _csrf = _browser(app, "manager")
    form = client.get(f"/contactmodelview/edit/{contact.id}").get_data(as_text=True)
    data = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "locale": "",
        "tags": "",
        "notes": "",
        "legal_hold": "y",
        "csrf_token": csrf_token_from(form),
    }
    resp = client.post(f"/contactmodelview/edit/{contact.id}", data=data)
    assert resp.status_code == 302
    assert any("legal_hold" in msg for msg in _flashes(client))
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).legal_hold is False
    # Editing without touching the hold still works.
    resp = client.post(f"/contactmodelview/edit/{contact.id}", data={**data, "legal_hold": "", "tags": "vip"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).tags == "vip"


@pytest.mark.parametrize(("username", "status"), [("privacy", 200), ("admin", 200), ("manager", 403), ("agent", 403)])
def test_legal_hold_api_follows_the_matrix(client, api, contact, username, status):
    resp = client.post(f"/api/v1/contact/{contact.id}/legal_hold", json={"legal_hold": True}, headers=api(username))
    assert resp.status_code == status
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).legal_hold is (status == 200)


def test_legal_hold_api_refuses_bad_bodies(client, api, contact):
    headers = api("privacy")
    for body in ({}, {"legal_hold": "yes"}, {"legal_hold": True, "x": 1}):
        assert client.post(f"/api/v1/contact/{contact.id}/legal_hold", json=body, headers=headers).status_code == 400
    assert (
        client.post("/api/v1/contact/999999/legal_hold", json={"legal_hold": True}, headers=headers).status_code == 404
    )


def test_privacy_officer_sets_and_clears_legal_hold_from_the_contact_page(app, contact):
    client, _csrf = _browser(app, "privacy")
    page = client.get(f"/contactmodelview/show/{contact.id}").get_data(as_text=True)
    assert "Set legal hold" in page
    csrf = csrf_token_from(page)
    resp = client.post(f"/contactmodelview/legal_hold/{contact.id}", data={"legal_hold": "1", "csrf_token": csrf})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).legal_hold is True
    client.post(f"/contactmodelview/legal_hold/{contact.id}", data={"legal_hold": "0", "csrf_token": csrf})
    db.session.expire_all()
    assert db.session.get(Contact, contact.id).legal_hold is False
    # A Support Manager sees no switch and is refused.
    manager, csrf = _browser(app, "manager")
    assert "Set legal hold" not in manager.get(f"/contactmodelview/show/{contact.id}").get_data(as_text=True)
    resp = manager.post(f"/contactmodelview/legal_hold/{contact.id}", data={"legal_hold": "1", "csrf_token": csrf})
    assert resp.status_code == 403


def test_whoever_marks_a_minor_cannot_approve_the_erasure(app, client, api, contact):
    admin = api("admin")
    resp = client.put(f"/api/v1/contact/{contact.id}", json={"is_minor": True}, headers=admin)
    assert resp.status_code == 200
    req = db.session.query(PrivacyRequest).filter_by(contact_id=contact.id).one()
    admin_id = app.appbuilder.sm.find_user(username="admin").id
    assert (req.request_type, req.status, req.requested_by_id) == ("erasure", "pending", admin_id)
    resp = client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=admin)
    assert resp.status_code == 422
    assert "four eyes" in resp.get_json()["message"]
    with pytest.raises(PrivacyError, match="four eyes"):
        decisions.approve(req.id, admin_id)
    resp = client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy"))
    assert resp.status_code == 200
