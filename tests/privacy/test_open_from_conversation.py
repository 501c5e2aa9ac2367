"""The conversation view's one-click "Open privacy request" (Agents, Support Managers, ...)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.core.models import utcnow
from app.privacy.models import PrivacyRequest, RequestSource, RequestStatus
from tests.helpers import csrf_token_from, uid


def _open(client, conversation, request_type: str):
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    return client.post(
        f"/privacyrequestmodelview/open/{conversation.id}",
        data={"request_type": request_type, "csrf_token": csrf_token_from(html)},
        follow_redirects=True,
    )


def _requests() -> list[PrivacyRequest]:
    return list(db.session.scalars(select(PrivacyRequest).order_by(PrivacyRequest.id)))


@pytest.mark.parametrize(
    ("choice", "stored"),
    [
        ("access", "access"),
        ("erasure", "erasure"),
        ("rectification", "rectification"),
        ("opt_out", "marketing_opt_out"),
    ],
)
def test_an_agent_opens_a_staff_request_for_the_contact(login_as, conversation, choice, stored):
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="open-privacy-request"' in html
    assert "None open." in html
    resp = _open(client, conversation, choice)
    assert resp.status_code == 200
    (req,) = _requests()
    assert (req.request_type, req.contact_id, req.source) == (stored, conversation.contact_id, RequestSource.STAFF)
    assert req.requested_by_id == uid("agent")
    assert req.status == RequestStatus.PENDING
    page = resp.get_data(as_text=True)
    assert f"Privacy request #{req.id}" in page
    assert "opened" in page
    # the box lists it; an Agent may not read requests, so no link to the request page
    assert f"#{req.id}" in page
    assert f"/privacyrequestmodelview/show/{req.id}" not in page
    audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "privacy_request_created"))
    assert audit is not None
    assert audit.entity_id == str(req.id)
    assert audit.actor_id == uid("agent")


def test_a_second_one_of_the_same_kind_is_refused(login_as, conversation):
    client = login_as("manager")
    _open(client, conversation, "erasure")
    again = _open(client, conversation, "erasure")
    (req,) = _requests()
    assert f"Not opened: privacy request #{req.id} (erasure) is already open for this contact" in again.get_data(
        as_text=True
    )
    _open(client, conversation, "access")  # another kind is fine
    assert [r.request_type for r in _requests()] == ["erasure", "access"]


def test_privacy_officers_get_a_link_to_the_request(login_as, conversation):
    # Privacy Officers cannot read conversations; an Admin can do both and gets the link
    client = login_as("admin")
    resp = _open(client, conversation, "access")
    (req,) = _requests()
    assert f'href="/privacyrequestmodelview/show/{req.id}"' in resp.get_data(as_text=True)


def test_bad_choice_and_erased_contact(login_as, conversation):
    client = login_as("agent")
    assert "Not opened: choose access, erasure, rectification or opt-out" in _open(
        client, conversation, "restriction"
    ).get_data(as_text=True)
    conversation.contact.erased_at = utcnow()
    db.session.commit()
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="open-privacy-request"' not in html
    assert _requests() == []


def test_unknown_conversation_is_404(login_as, conversation):
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    resp = client.post("/privacyrequestmodelview/open/999999", data={"csrf_token": csrf_token_from(html)})
    assert resp.status_code == 404
