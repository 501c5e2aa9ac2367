"""A rectification's corrections: `POST /api/v1/privacy_request/<id>/corrections` and the form.

A rectification opened from the conversation view, a Messenger tap or the public form names no
fields; approving one used to end in an error. Now approval waits for the corrections, which a
Privacy Officer records; the job then applies them.
"""

from __future__ import annotations

import pytest

from app import db
from app.contacts.models import Contact
from app.privacy.models import PrivacyRequest, RequestSource, RequestStatus, RequestType
from app.privacy.requests import create_request
from tests.helpers import audit_actions, csrf_token_from, run_jobs, uid


def _open_without_fields(contact: Contact) -> PrivacyRequest:
    """As the conversation view's one click opens it: no fields yet."""
    return create_request(RequestType.RECTIFICATION, contact, requested_by_id=uid("agent"), corrections_later=True)


def _post(client, headers, pk: int, body) -> tuple[int, dict]:
    resp = client.post(f"/api/v1/privacy_request/{pk}/corrections", json=body, headers=headers)
    return resp.status_code, resp.get_json()


def _stored(pk: int) -> PrivacyRequest:
    db.session.expire_all()
    return db.session.get(PrivacyRequest, pk)


def test_approval_waits_for_the_corrections_then_the_job_applies_them(client, api, contact):
    req = _open_without_fields(contact)
    resp = client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy"))
    assert resp.status_code == 422
    assert resp.get_json()["message"] == "record the corrections first: which fields change, and to what"
    assert _stored(req.id).status == RequestStatus.PENDING

    status, body = _post(client, api("privacy"), req.id, {"fields": {"last_name": " Byron ", "locale": ""}})
    assert status == 200, body
    assert _stored(req.id).details == {"last_name": "Byron"}
    assert audit_actions("privacy_request")[-1] == "privacy_request_corrections_set"

    resp = client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy"))
    assert resp.status_code == 200, resp.get_json()
    run_jobs(("privacy",))
    done = _stored(req.id)
    assert (done.status, done.result) == (RequestStatus.COMPLETE, "updated last_name")
    assert (db.session.get(Contact, contact.id).first_name, db.session.get(Contact, contact.id).last_name) == (
        "Ada",
        "Byron",
    )


def test_a_web_request_keeps_the_requester_s_words_and_applies_only_the_corrections(client, api, contact):
    req = create_request(
        RequestType.RECTIFICATION,
        None,
        source=RequestSource.WEB,
        web_intake={"requester_name": "Ada L", "message": "My surname is Byron now"},
    )
    check = {"contact_id": contact.id, "identity_check": "code repeated back by e-mail"}
    assert client.post(f"/api/v1/privacy_request/{req.id}/match", json=check, headers=api("privacy")).status_code == 200
    status, _ = _post(client, api("privacy"), req.id, {"fields": {"last_name": "Byron"}})
    assert status == 200
    assert _stored(req.id).details == {
        "requester_name": "Ada L",
        "message": "My surname is Byron now",
        "last_name": "Byron",
    }
    # a second call replaces the corrections, still keeping the words
    status, _ = _post(client, api("privacy"), req.id, {"fields": {"first_name": "Augusta"}})
    assert status == 200
    assert _stored(req.id).details == {
        "requester_name": "Ada L",
        "message": "My surname is Byron now",
        "first_name": "Augusta",
    }
    assert client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy")).status_code == 200
    run_jobs(("privacy",))
    assert _stored(req.id).status == RequestStatus.COMPLETE
    stored = db.session.get(Contact, contact.id)
    assert (stored.first_name, stored.last_name) == ("Augusta", "Lovelace")


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"fields": "last_name=Byron"}, 400, "fields must be an object of first_name, last_name, locale"),
        ({}, 400, "fields must be an object"),
        ({"fields": {}}, 422, "a rectification needs at least one corrected field"),
        ({"fields": {"last_name": "   "}}, 422, "a rectification needs at least one corrected field"),
        ({"fields": {"email": "a@b.c"}}, 422, "fields that cannot be rectified: email"),
        ({"fields": {"last_name": 5}}, 422, "last_name must be text"),
        ({"fields": {"locale": "x" * 17}}, 422, "locale is longer than 16 characters"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_nothing_written(client, api, contact, body, status, reason):
    req = _open_without_fields(contact)
    got, answer = _post(client, api("privacy"), req.id, body)
    assert got == status, answer
    assert reason in answer["message"]
    assert _stored(req.id).details is None
    assert "privacy_request_corrections_set" not in audit_actions("privacy_request")


def test_not_json_unknown_request_wrong_type_and_not_pending(client, api, contact):
    resp = client.post("/api/v1/privacy_request/1/corrections", data="nope", headers=api("privacy"))
    assert resp.status_code == 400
    assert _post(client, api("privacy"), 999999, {"fields": {"last_name": "B"}})[0] == 404
    access = create_request(RequestType.ACCESS, contact, requested_by_id=uid("agent"))
    status, body = _post(client, api("privacy"), access.id, {"fields": {"last_name": "B"}})
    assert (status, body["message"]) == (422, "only rectification requests carry corrections (this one is access)")
    req = _open_without_fields(contact)
    req.status = RequestStatus.CANCELED
    db.session.commit()
    status, body = _post(client, api("privacy"), req.id, {"fields": {"last_name": "B"}})
    assert status == 422
    assert body["message"] == "corrections can be changed only while the request is pending (this one is canceled)"


@pytest.mark.parametrize(("username", "status"), [("agent", 403), ("manager", 403), ("admin", 200)])
def test_roles(client, api, contact, username, status):
    req = _open_without_fields(contact)
    assert _post(client, api(username), req.id, {"fields": {"last_name": "Byron"}})[0] == status


def test_the_request_page_form_records_them(login_as, contact):
    req = _open_without_fields(contact)
    client = login_as("privacy")
    html = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert 'id="corrections-box"' in html
    assert "none recorded yet" in html
    assert "Lovelace" in html  # the contact's current value beside the input
    resp = client.post(
        f"/privacyrequestmodelview/corrections/{req.id}",
        data={"first_name": "", "last_name": "<b>Byron</b>", "locale": "", "csrf_token": csrf_token_from(html)},
        follow_redirects=True,
    )
    page = resp.get_data(as_text=True)
    assert f"Corrections recorded for request #{req.id}: last_name." in page
    assert "last name → &lt;b&gt;Byron&lt;/b&gt;" in page  # escaped
    assert _stored(req.id).details == {"last_name": "<b>Byron</b>"}


def test_the_form_flashes_the_reason(login_as, contact):
    req = _open_without_fields(contact)
    client = login_as("privacy")
    html = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    resp = client.post(
        f"/privacyrequestmodelview/corrections/{req.id}",
        data={"first_name": "", "last_name": "", "locale": "", "csrf_token": csrf_token_from(html)},
        follow_redirects=True,
    )
    assert "Corrections not saved: a rectification needs at least one corrected field" in resp.get_data(as_text=True)
    assert _stored(req.id).details is None


def test_no_form_on_other_types(login_as, contact):
    access = create_request(RequestType.ACCESS, contact, requested_by_id=uid("agent"))
    html = login_as("privacy").get(f"/privacyrequestmodelview/show/{access.id}").get_data(as_text=True)
    assert 'id="corrections-box"' not in html


def test_support_managers_cannot_record_corrections(login_as, contact):
    req = _open_without_fields(contact)
    client = login_as("manager")
    token = csrf_token_from(client.get("/conversations/").get_data(as_text=True))
    data = {"last_name": "Byron", "csrf_token": token}
    assert client.post(f"/privacyrequestmodelview/corrections/{req.id}", data=data).status_code == 403
    assert _stored(req.id).details is None
