"""The staff request form: contact search, fields per type, identity check; erasure confirmation."""

from __future__ import annotations

from app import db
from app.contacts.models import Contact
from app.core.models import utcnow
from app.privacy import requests
from app.privacy.models import PrivacyRequest
from app.privacy.staff_form import erasure_preview, search_contacts
from tests.helpers import csrf_token_from, uid


def test_search_finds_by_name_and_psid_but_never_tombstones(contact):
    erased = Contact(page=contact.page, psid=None, first_name=None, erased_at=utcnow())
    db.session.add(erased)
    db.session.commit()
    assert [c["id"] for c in search_contacts("ada")] == [contact.id]
    assert [c["id"] for c in search_contacts("Ada Love")] == [contact.id]
    assert [c["id"] for c in search_contacts("7001002003")] == [contact.id]
    assert [c["id"] for c in search_contacts("2003")] == [contact.id]  # the last digits, as the grid shows
    assert search_contacts("a") == []  # too short
    assert search_contacts("%") == []
    assert search_contacts("zz%") == []
    hit = search_contacts("lovelace")[0]
    assert hit == {"id": contact.id, "name": "Ada Lovelace", "psid_tail": "2003", "page": "Test Page"}


def test_search_endpoint_answers_json_for_request_creators(login_as, contact):
    client = login_as("agent")
    resp = client.get("/privacyrequestmodelview/contacts?q=ada")
    assert resp.status_code == 200
    assert resp.get_json()["contacts"][0]["id"] == contact.id
    assert client.get("/privacyrequestmodelview/contacts?q=").get_json() == {"contacts": []}


def test_plain_form_fallback_lists_matches_then_creates_with_identity_check(login_as, contact):
    client = login_as("privacy")
    page = client.get("/privacyrequestmodelview/add?q=love").get_data(as_text=True)
    assert 'name="contact_id"' not in page  # no raw, editable contact id
    assert f"/privacyrequestmodelview/add?contact_id={contact.id}" in page
    assert "Ada Lovelace" in page
    none = client.get("/privacyrequestmodelview/add?q=nobody").get_data(as_text=True)
    assert "No contact matches" in none
    form = client.get(f"/privacyrequestmodelview/add?contact_id={contact.id}")
    assert form.status_code == 200
    html = form.get_data(as_text=True)
    assert f'<input type="hidden" name="contact_id" value="{contact.id}">' in html
    resp = client.post(
        "/privacyrequestmodelview/add",
        data={
            "csrf_token": csrf_token_from(html),
            "contact_id": str(contact.id),
            "request_type": "access",
            "first_name": "ignored for access",
            "identity_check": "Asked in the Messenger conversation itself",
        },
    )
    assert resp.status_code == 302
    req = db.session.query(PrivacyRequest).one()
    assert (req.identity_verified, req.identity_check, req.details) == (
        True,
        "Asked in the Messenger conversation itself",
        None,
    )
    show = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert "Yes — Asked in the Messenger conversation itself" in show


def test_request_without_identity_check_is_unverified(contact):
    req = requests.create_request("access", contact, requested_by_id=uid("agent"))
    assert (req.identity_verified, req.identity_check) == (False, None)


def test_completed_request_shows_its_due_date_once(login_as, contact):
    req = requests.create_request("access", contact, requested_by_id=uid("agent"))
    req.status = "complete"
    req.completed_at = utcnow()
    db.session.commit()
    page = login_as("privacy").get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    due = req.due_at.strftime("%d %B %Y")
    assert page.count(due) == 1
    assert req.due_at.date().isoformat() not in page


def test_erasure_approval_is_confirmed_first_without_javascript(login_as, conversation):
    contact = conversation.contact
    req = requests.create_request("erasure", contact, requested_by_id=uid("agent"))
    assert erasure_preview(req) == {"messages": 0, "conversations": 1, "exports": 0}
    client = login_as("privacy")
    show = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert f'href="/privacyrequestmodelview/confirm/{req.id}"' in show
    confirm = client.get(f"/privacyrequestmodelview/confirm/{req.id}")
    assert confirm.status_code == 200
    html = confirm.get_data(as_text=True)
    assert "Erase Ada Lovelace?" in html
    assert "This cannot be undone." in html
    assert "1 conversation(s)" in html
    token = csrf_token_from(html)
    unconfirmed = client.post(
        f"/privacyrequestmodelview/decide/{req.id}", data={"csrf_token": token, "decision": "approve"}
    )
    assert unconfirmed.status_code == 302
    assert db.session.get(PrivacyRequest, req.id).status == "pending"
    done = client.post(
        f"/privacyrequestmodelview/decide/{req.id}",
        data={"csrf_token": token, "decision": "approve", "confirmed": "1"},
    )
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).status == "approved"


def test_confirm_page_needs_the_approve_right(login_as, contact):
    req = requests.create_request("erasure", contact, requested_by_id=uid("privacy"))
    assert login_as("agent").get(f"/privacyrequestmodelview/confirm/{req.id}").status_code == 403


def test_api_approve_keeps_its_contract(client, api, contact):
    req = requests.create_request("erasure", contact, requested_by_id=uid("agent"))
    resp = client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy"))
    assert resp.status_code == 200
