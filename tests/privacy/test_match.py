"""Matching a web request to a contact: `POST /api/v1/privacy_request/<id>/match` and the button."""

from __future__ import annotations

import pytest

from app import db
from app.core.models import utcnow
from app.privacy.models import PrivacyRequest, RequestSource, RequestStatus, RequestType
from app.privacy.requests import create_request
from tests.helpers import audit_actions, csrf_token_from, run_jobs, uid

CHECK = "Confirmation code sent in Messenger and repeated back by e-mail"


def _web_request(request_type: str = RequestType.ACCESS) -> PrivacyRequest:
    return create_request(
        request_type,
        None,
        source=RequestSource.WEB,
        web_intake={"requester_name": "Ada <b>L</b>", "message": "I write to you as Ada"},
    )


def _match(client, headers, pk: int, body) -> tuple[int, dict]:
    resp = client.post(f"/api/v1/privacy_request/{pk}/match", json=body, headers=headers)
    return resp.status_code, resp.get_json()


def test_a_privacy_officer_matches_then_another_approves(client, api, contact):
    req = _web_request()
    assert req.identity_verified is False
    status, body = _match(client, api("privacy"), req.id, {"contact_id": contact.id, "identity_check": CHECK})
    assert status == 200, body
    assert body["result"]["contact_id"] == contact.id
    assert body["result"]["identity_verified"] is True
    db.session.expire_all()
    stored = db.session.get(PrivacyRequest, req.id)
    assert (stored.contact_id, stored.identity_check, stored.identity_verified) == (contact.id, CHECK, True)
    assert audit_actions("privacy_request")[-1] == "privacy_request_matched"
    # four eyes unchanged: a web request has no staff requester, so the matcher may approve
    resp = client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy"))
    assert resp.status_code == 200, resp.get_json()
    run_jobs(("privacy",))
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).status == RequestStatus.COMPLETE


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"contact_id": "1", "identity_check": CHECK}, 400, "contact_id must be a positive integer"),
        ({"contact_id": True, "identity_check": CHECK}, 400, "contact_id must be a positive integer"),
        ({"contact_id": 2**40, "identity_check": CHECK}, 400, "contact_id must be a positive integer"),
        ({"contact_id": None, "identity_check": CHECK}, 400, "contact_id must be a positive integer"),
        ({"contact_id": 999999, "identity_check": CHECK}, 422, "no contact with id 999999"),
        ({"contact_id": "CONTACT", "identity_check": ""}, 400, "say how the requester's identity was verified"),
        ({"contact_id": "CONTACT"}, 400, "say how the requester's identity was verified"),
        ({"contact_id": "CONTACT", "identity_check": "   "}, 400, "say how the requester's identity was verified"),
        ({"contact_id": "CONTACT", "identity_check": 5}, 400, "identity_check must be text"),
        ({"contact_id": "CONTACT", "identity_check": "x" * 501}, 400, "longer than 500 characters"),
    ],
)
def test_bad_input_is_refused_with_the_reason(client, api, contact, body, status, reason):
    req = _web_request()
    body = {k: (contact.id if v == "CONTACT" else v) for k, v in body.items()}
    got, answer = _match(client, api("privacy"), req.id, body)
    assert got == status, answer
    assert reason in answer["message"]
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).contact_id is None
    assert "privacy_request_matched" not in audit_actions("privacy_request")


def test_not_json_and_unknown_request(client, api, contact):
    resp = client.post("/api/v1/privacy_request/1/match", data="nope", headers=api("privacy"))
    assert resp.status_code == 400
    status, _ = _match(client, api("privacy"), 999999, {"contact_id": contact.id, "identity_check": CHECK})
    assert status == 404


def test_only_web_requests_are_matched(client, api, contact):
    staff = create_request(RequestType.ACCESS, contact, requested_by_id=uid("agent"))
    status, body = _match(client, api("privacy"), staff.id, {"contact_id": contact.id, "identity_check": CHECK})
    assert status == 422
    assert "only requests from the public form are matched" in body["message"]


def test_only_pending_requests_are_matched(client, api, contact):
    req = _web_request()
    req.status = RequestStatus.CANCELED
    db.session.commit()
    status, body = _match(client, api("privacy"), req.id, {"contact_id": contact.id, "identity_check": CHECK})
    assert status == 422
    assert "only pending requests can be matched (this one is canceled)" in body["message"]


def test_an_erased_contact_is_refused(client, api, contact):
    contact.erased_at = utcnow()
    db.session.commit()
    req = _web_request()
    status, body = _match(client, api("privacy"), req.id, {"contact_id": contact.id, "identity_check": CHECK})
    assert status == 422
    assert "this contact was erased" in body["message"]


@pytest.mark.parametrize(("username", "status"), [("agent", 403), ("manager", 403), ("admin", 200)])
def test_roles(client, api, contact, username, status):
    req = _web_request()
    got, _ = _match(client, api(username), req.id, {"contact_id": contact.id, "identity_check": CHECK})
    assert got == status


def test_the_show_page_form_searches_and_matches(login_as, contact):
    req = _web_request()
    client = login_as("privacy")
    html = client.get(f"/privacyrequestmodelview/show/{req.id}?q=Ada").get_data(as_text=True)
    assert 'id="match-box"' in html
    assert "Ada &lt;b&gt;L&lt;/b&gt;" in html  # the requester's words, escaped
    assert f'name="contact_id" value="{contact.id}"' in html  # the search hit
    resp = client.post(
        f"/privacyrequestmodelview/match/{req.id}",
        data={"contact_id": str(contact.id), "identity_check": CHECK, "csrf_token": csrf_token_from(html)},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).identity_verified is True
    after = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert f"Request #{req.id} matched to contact #{contact.id}" in after
    assert f"Yes — {CHECK}" in after  # the identity row


def test_the_form_refuses_without_a_contact(login_as, contact):
    req = _web_request()
    client = login_as("privacy")
    html = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    resp = client.post(
        f"/privacyrequestmodelview/match/{req.id}",
        data={"contact_id": "", "identity_check_other": "called them", "csrf_token": csrf_token_from(html)},
        follow_redirects=True,
    )
    assert "Not matched: contact_id must be a positive integer" in resp.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).contact_id is None


def test_no_match_form_on_a_staff_request(login_as, contact):
    staff = create_request(RequestType.ACCESS, contact, requested_by_id=uid("agent"))
    html = login_as("privacy").get(f"/privacyrequestmodelview/show/{staff.id}").get_data(as_text=True)
    assert 'id="match-box"' not in html


def test_support_managers_cannot_open_the_match_form(login_as, contact):
    req = _web_request()
    client = login_as("manager")
    assert client.get(f"/privacyrequestmodelview/show/{req.id}").status_code == 403
    token = csrf_token_from(client.get("/conversations/").get_data(as_text=True))
    data = {"contact_id": str(contact.id), "identity_check": CHECK, "csrf_token": token}
    assert client.post(f"/privacyrequestmodelview/match/{req.id}", data=data).status_code == 403
