"""Request lifecycle: due dates, transitions, four eyes, roles, legal hold, minors."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask_appbuilder.security.sqla.models import User

from app import db
from app.contacts import services as contact_services
from app.contacts.models import Contact
from app.core.models import utcnow
from app.privacy import accounts, deadlines, decisions, processing, requests, retention
from app.privacy.exceptions import PrivacyError
from app.privacy.models import PrivacyRequest
from tests.helpers import csrf_token_from, login, uid


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (datetime(2025, 1, 31, 10, 0), datetime(2025, 2, 28, 10, 0)),
        (datetime(2024, 1, 31, 10, 0), datetime(2024, 2, 29, 10, 0)),
        (datetime(2024, 1, 30, 0, 0), datetime(2024, 2, 29, 0, 0)),
        (datetime(2025, 3, 31, 23, 59), datetime(2025, 4, 30, 23, 59)),
        (datetime(2025, 12, 15, 8, 0), datetime(2026, 1, 15, 8, 0)),
    ],
)
def test_due_date_is_one_calendar_month(received, due, contact):
    req = requests.create_request("access", contact, requested_by_id=uid("agent"), received_at=received)
    assert req.due_at == due
    assert db.session.get(PrivacyRequest, req.id).due_at == due


def test_urgency_colours(contact):
    # days left count calendar days: noon, so "+1 hour" never crosses midnight (at 23:xx it did)
    now = utcnow().replace(hour=12, minute=0)
    req = requests.create_request("access", contact, requested_by_id=uid("agent"))
    for delta, colour in ((20, "green"), (9, "amber"), (5, "amber"), (4, "red"), (0, "red")):
        req.due_at = now + timedelta(days=delta, hours=1)
        assert deadlines.urgency(req, now) == colour, delta
    req.due_at = now - timedelta(minutes=1)
    assert deadlines.urgency(req, now) == "overdue"
    req.status = "complete"
    assert deadlines.urgency(req, now) == "closed"


def test_create_validates(contact):
    with pytest.raises(PrivacyError, match="unknown request type"):
        requests.create_request("nonsense", contact)
    with pytest.raises(PrivacyError, match="contact"):
        requests.create_request("access", None)
    with pytest.raises(PrivacyError, match="cannot be rectified"):
        requests.create_request("rectification", contact, details={"psid": "x"})
    with pytest.raises(PrivacyError, match="at least one"):
        requests.create_request("rectification", contact, details={"first_name": "  "})
    db.session.rollback()
    assert db.session.query(PrivacyRequest).count() == 0


def test_four_eyes_and_deny_reason(contact):
    req = requests.create_request("marketing_opt_out", contact, requested_by_id=uid("privacy"))
    with pytest.raises(PrivacyError, match="four eyes"):
        decisions.approve(req, uid("privacy"))
    with pytest.raises(PrivacyError, match="four eyes"):
        decisions.deny(req, uid("privacy"), "no")
    with pytest.raises(PrivacyError, match="reason"):
        decisions.deny(req, uid("privacy2"), "   ")
    assert db.session.get(PrivacyRequest, req.id).status == "pending"
    decisions.deny(req, uid("privacy2"), "identity could not be verified")
    req = db.session.get(PrivacyRequest, req.id)
    assert (req.status, req.approved_by_id, req.reason) == ("denied", uid("privacy2"), "identity could not be verified")
    with pytest.raises(PrivacyError, match="only pending"):
        decisions.approve(req, uid("privacy2"))


@pytest.mark.parametrize(
    ("request_type", "details", "check"),
    [
        ("marketing_opt_out", None, lambda c: c.marketing_opt_out is True),
        ("restriction", None, lambda c: c.restricted is True),
        (
            "rectification",
            {"first_name": "Augusta", "locale": "en_GB"},
            lambda c: (c.first_name, c.locale) == ("Augusta", "en_GB"),
        ),
    ],
)
def test_approve_process_complete(contact, jobs, request_type, details, check):

    req = requests.create_request(request_type, contact, requested_by_id=uid("agent"), details=details)
    decisions.approve(req, uid("privacy"))
    assert db.session.get(PrivacyRequest, req.id).status == "approved"
    jobs(("privacy",))
    db.session.expire_all()
    req = db.session.get(PrivacyRequest, req.id)
    assert (req.status, req.progress) == ("complete", 100)
    assert req.completed_at is not None
    assert req.result
    assert check(db.session.get(Contact, contact.id))


def test_lift_restriction(contact, jobs):
    req = requests.create_request("restriction", contact, requested_by_id=uid("agent"))
    decisions.approve(req, uid("privacy"))
    jobs(("privacy",))
    db.session.expire_all()
    assert contact.restricted is True
    decisions.lift_restriction(req.id)
    db.session.expire_all()
    assert contact.restricted is False
    with pytest.raises(PrivacyError):
        decisions.lift_restriction(req.id)


def test_legal_hold_blocks_erasure(contact, jobs):
    req = requests.create_request("erasure", contact, requested_by_id=uid("agent"))
    contact.legal_hold = True
    db.session.commit()
    with pytest.raises(PrivacyError, match="legal hold"):
        decisions.approve(req, uid("privacy"))
    db.session.rollback()
    # hold placed after approval: the job stops with a reason, nothing erased
    contact.legal_hold = False
    db.session.commit()
    decisions.approve(req, uid("privacy"))
    contact.legal_hold = True
    db.session.commit()
    jobs(("privacy",))
    db.session.expire_all()
    req = db.session.get(PrivacyRequest, req.id)
    assert req.status == "error"
    assert "legal hold" in req.error
    assert contact.psid == "7001002003"
    assert contact.erased_at is None
    # lifted: retry completes it
    contact.legal_hold = False
    db.session.commit()
    decisions.retry(req.id)
    assert db.session.get(PrivacyRequest, req.id).status == "approved"
    jobs(("privacy",))
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).status == "complete"
    assert contact.erased_at is not None
    assert contact.psid is None


def test_cancel_and_retry_rules(contact):
    req = requests.create_request("access", contact, requested_by_id=uid("agent"))
    with pytest.raises(PrivacyError, match="only failed"):
        decisions.retry(req)
    decisions.cancel(req, "duplicate")
    assert db.session.get(PrivacyRequest, req.id).status == "canceled"
    with pytest.raises(PrivacyError):
        decisions.cancel(req)
    # a canceled request queued earlier is skipped by the job
    assert processing.process(req.id).status == "canceled"


def test_minor_opens_one_erasure(contact):

    contact.is_minor = True
    db.session.commit()
    contact_services.after_update(contact)
    contact_services.after_update(contact)
    reqs = db.session.query(PrivacyRequest).filter_by(contact_id=contact.id).all()
    assert [(r.request_type, r.status) for r in reqs] == [("erasure", "pending")]


def test_flag_overdue_once(contact):
    req = requests.create_request("access", contact, requested_by_id=uid("agent"))
    now = utcnow()
    assert retention.flag_overdue(now) == 0
    assert retention.flag_overdue(req.due_at + timedelta(seconds=1)) == 1
    assert retention.flag_overdue(req.due_at + timedelta(hours=2)) == 0
    assert db.session.get(PrivacyRequest, req.id).overdue_flagged_at is not None


def test_account_deletion_anonymises(app):

    sm = app.appbuilder.sm
    user = sm.add_user("leaver", "Lee", "Ver", "leaver@example.test", [sm.find_role("Agent")], "correct-horse-battery")
    db.session.commit()
    req = accounts.request_account_deletion(user.id, requested_by_id=uid("admin"))
    with pytest.raises(PrivacyError, match="four eyes"):
        decisions.approve(req, user.id)
    decisions.approve(req, uid("privacy"))
    assert processing.process(req.id).status == "complete"
    db.session.expire_all()
    u = db.session.get(User, user.id)
    assert (u.username, u.active, u.first_name) == (f"deleted-{user.id}", False, "Deleted")
    assert "leaver" not in u.email
    # retention removes the anonymised account for good
    assert accounts.purge_deleted_accounts() == 1
    assert db.session.get(User, user.id) is None


def test_admin_requests_account_deletion_from_the_users_grid(app, login_as):
    sm = app.appbuilder.sm
    user = sm.add_user(
        "leaver2", "Lee", "Ver", "leaver2@example.test", [sm.find_role("Agent")], "correct-horse-battery"
    )
    db.session.commit()
    client = login_as("admin")
    token = csrf_token_from(client.get("/users/list/").get_data(as_text=True))
    resp = client.post(
        "/users/action_post", data={"action": "request_deletion", "rowid": [str(user.id)], "csrf_token": token}
    )
    assert resp.status_code == 302
    req = db.session.scalars(db.select(PrivacyRequest).filter_by(subject_user_id=user.id)).one()
    assert (req.source, req.request_type, req.status, req.requested_by_id) == (
        "account",
        "erasure",
        "pending",
        uid("admin"),
    )
    # a second request for the same account is refused with the reason
    with pytest.raises(PrivacyError, match=f"already open \\(#{req.id}\\)"):
        accounts.request_account_deletion(user.id)
    client.post("/users/action_post", data={"action": "request_deletion", "rowid": [str(user.id)], "csrf_token": token})
    assert db.session.scalars(db.select(PrivacyRequest).filter_by(subject_user_id=user.id)).all() == [req]
    # an agent has no access to the users grid at all
    with app.app_context():  # its own g: Flask-WTF caches the CSRF token there
        agent = app.test_client()
        assert login(agent, "agent").status_code == 302
        agent_token = csrf_token_from(agent.get("/resetmypassword/form").get_data(as_text=True))
        form = {"action": "request_deletion", "rowid": [str(user.id)], "csrf_token": agent_token}
        resp = agent.post("/users/action_post", data=form)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
        assert resp.headers["Location"] == "."  # FAB refuses the action with a flash and a redirect
    assert len(db.session.scalars(db.select(PrivacyRequest).filter_by(subject_user_id=user.id)).all()) == 1


# ---------------------------------------------------------------- UI and API, by role


def test_agent_creates_from_contact_page_but_cannot_approve(login_as, contact):
    client = login_as("agent")
    show = client.get(f"/contactmodelview/show/{contact.id}")
    assert show.status_code == 200
    assert "New privacy request" in show.get_data(as_text=True)
    form = client.get(f"/privacyrequestmodelview/add?contact_id={contact.id}")
    assert form.status_code == 200
    token = csrf_token_from(form.get_data(as_text=True))
    resp = client.post(
        "/privacyrequestmodelview/add",
        data={"csrf_token": token, "contact_id": str(contact.id), "request_type": "erasure"},
    )
    assert resp.status_code == 302
    assert f"/contactmodelview/show/{contact.id}" in resp.headers["Location"]
    req = db.session.query(PrivacyRequest).one()
    assert (req.request_type, req.status, req.requested_by_id) == ("erasure", "pending", uid("agent"))
    assert client.get("/privacyrequestmodelview/list/").status_code == 403
    resp = client.post(f"/privacyrequestmodelview/decide/{req.id}", data={"csrf_token": token, "decision": "approve"})
    assert resp.status_code == 403
    assert db.session.get(PrivacyRequest, req.id).status == "pending"


def test_add_form_bad_input_is_422(login_as, contact):
    client = login_as("manager")
    token = csrf_token_from(client.get("/privacyrequestmodelview/add").get_data(as_text=True))
    resp = client.post(
        "/privacyrequestmodelview/add",
        data={"csrf_token": token, "contact_id": "999999", "request_type": "access"},
    )
    assert resp.status_code == 422
    assert "choose an existing contact" in resp.get_data(as_text=True)
    resp = client.post(
        "/privacyrequestmodelview/add",
        data={"csrf_token": token, "contact_id": str(contact.id), "request_type": "rectification"},
    )
    assert resp.status_code == 422
    assert "corrected fields" in resp.get_data(as_text=True)
    assert db.session.query(PrivacyRequest).count() == 0


def test_privacy_officer_approves_in_ui_and_sees_complete(login_as, contact, jobs):
    req = requests.create_request("erasure", contact, requested_by_id=uid("agent"))
    client = login_as("privacy")
    listing = client.get("/privacyrequestmodelview/list/")
    assert listing.status_code == 200
    assert "days left" in listing.get_data(as_text=True)
    page = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    token = csrf_token_from(page)
    resp = client.post(f"/privacyrequestmodelview/decide/{req.id}", data={"csrf_token": token, "decision": "approve"})
    assert resp.status_code == 302  # an erasure is confirmed first
    assert f"/privacyrequestmodelview/confirm/{req.id}" in resp.headers["Location"]
    assert db.session.get(PrivacyRequest, req.id).status == "pending"
    resp = client.post(
        f"/privacyrequestmodelview/decide/{req.id}",
        data={"csrf_token": token, "decision": "approve", "confirmed": "1"},
    )
    assert resp.status_code == 302
    jobs(("privacy",))
    page = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert '<td id="status">complete</td>' in page
    assert "erased 0 messages" in page


def test_privacy_officer_cannot_approve_own_in_ui(login_as, contact):
    req = requests.create_request("access", contact, requested_by_id=uid("privacy"))
    client = login_as("privacy")
    page = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert "another privacy officer must decide" in page
    assert "Approve</button>" not in page
    other = requests.create_request("access", contact, requested_by_id=uid("agent"))
    token = csrf_token_from(client.get(f"/privacyrequestmodelview/show/{other.id}").get_data(as_text=True))
    client.post(f"/privacyrequestmodelview/decide/{req.id}", data={"csrf_token": token, "decision": "approve"})
    follow = client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert "four eyes" in follow
    assert db.session.get(PrivacyRequest, req.id).status == "pending"


def test_deny_in_ui_needs_reason(login_as, contact):
    req = requests.create_request("access", contact, requested_by_id=uid("agent"))
    client = login_as("privacy")
    token = csrf_token_from(client.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True))
    client.post(f"/privacyrequestmodelview/decide/{req.id}", data={"csrf_token": token, "decision": "deny"})
    assert db.session.get(PrivacyRequest, req.id).status == "pending"
    client.post(
        f"/privacyrequestmodelview/decide/{req.id}",
        data={"csrf_token": token, "decision": "deny", "reason": "not the data subject"},
    )
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, req.id).status == "denied"


def test_grid_overdue_filter_and_urgency_order(login_as, contact):
    now = utcnow()
    late = requests.create_request(
        "access", contact, requested_by_id=uid("agent"), received_at=now - timedelta(days=40)
    )
    soon = requests.create_request(
        "access", contact, requested_by_id=uid("agent"), received_at=now - timedelta(days=28)
    )
    fresh = requests.create_request("access", contact, requested_by_id=uid("agent"))
    done = requests.create_request(
        "access", contact, requested_by_id=uid("agent"), received_at=now - timedelta(days=60)
    )
    decisions.cancel(done)
    client = login_as("privacy")
    html = client.get("/privacyrequestmodelview/list/").get_data(as_text=True)
    order = [html.index(f'data-id="{r.id}"') for r in (late, soon, fresh, done)]
    assert order == sorted(order)
    assert "due-overdue" in html
    assert "due-red" in html
    assert "due-green" in html
    only = client.get("/privacyrequestmodelview/list/?overdue=1").get_data(as_text=True)
    assert f'data-id="{late.id}"' in only
    assert f'data-id="{soon.id}"' not in only
    assert f'data-id="{done.id}"' not in only


def test_api_create_approve_deny(client, api, contact, jobs):
    agent = api("agent")
    resp = client.post(
        "/api/v1/privacy_request/", json={"request_type": "marketing_opt_out", "contact_id": contact.id}, headers=agent
    )
    assert resp.status_code == 201, resp.get_json()
    rid = resp.get_json()["id"]
    assert client.post(f"/api/v1/privacy_request/{rid}/approve", headers=agent).status_code == 403
    assert client.get("/api/v1/privacy_request/", headers=agent).status_code == 403
    bad = client.post(
        "/api/v1/privacy_request/", json={"request_type": "bogus", "contact_id": contact.id}, headers=agent
    )
    assert bad.status_code == 422
    assert "unknown request type" in bad.get_json()["message"]
    assert client.post("/api/v1/privacy_request/", json={"contact_id": "x"}, headers=agent).status_code == 400
    po = api("privacy")
    resp = client.post(f"/api/v1/privacy_request/{rid}/deny", json={}, headers=po)
    assert resp.status_code == 422
    assert "reason" in resp.get_json()["message"]
    resp = client.post(f"/api/v1/privacy_request/{rid}/approve", headers=po)
    assert resp.status_code == 200
    assert resp.get_json()["result"]["status"] == "approved"
    jobs(("privacy",))
    listing = client.get("/api/v1/privacy_request/", headers=po).get_json()
    assert listing["result"][0]["status"] == "complete"
    own = requests.create_request("access", contact, requested_by_id=uid("privacy"))
    resp = client.post(f"/api/v1/privacy_request/{own.id}/approve", headers=po)
    assert resp.status_code == 422
    assert "four eyes" in resp.get_json()["message"]


def test_account_delete_command_opens_request(app):
    result = app.test_cli_runner().invoke(args=["omnicrm", "account", "delete", "agent2"])
    assert result.exit_code == 0, result.output
    req = db.session.query(PrivacyRequest).one()
    assert (req.source, req.request_type, req.subject_user_id, req.status) == (
        "account",
        "erasure",
        uid("agent2"),
        "pending",
    )
    bad = app.test_cli_runner().invoke(args=["omnicrm", "account", "delete", "nobody"])
    assert bad.exit_code != 0
    assert "no user named" in bad.output


def test_privacy_officer_logs_a_request_in_ui_and_another_officer_approves(app, contact):
    first = app.test_client()
    assert login(first, "privacy").status_code == 302
    token = csrf_token_from(first.get(f"/privacyrequestmodelview/add?contact_id={contact.id}").get_data(as_text=True))
    resp = first.post(
        "/privacyrequestmodelview/add",
        data={"csrf_token": token, "contact_id": str(contact.id), "request_type": "access"},
    )
    assert resp.status_code == 302
    req = db.session.query(PrivacyRequest).one()
    assert f"/privacyrequestmodelview/show/{req.id}" in resp.headers["Location"]
    assert (req.status, req.source, req.requested_by_id) == ("pending", "staff", uid("privacy"))
    resp = first.post(f"/privacyrequestmodelview/decide/{req.id}", data={"csrf_token": token, "decision": "approve"})
    assert resp.status_code == 302
    assert "four eyes" in first.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert db.session.get(PrivacyRequest, req.id).status == "pending"
    second = app.test_client()
    assert login(second, "privacy2").status_code == 302
    token = csrf_token_from(second.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True))
    resp = second.post(f"/privacyrequestmodelview/decide/{req.id}", data={"csrf_token": token, "decision": "approve"})
    assert resp.status_code == 302
    db.session.expire_all()
    req = db.session.get(PrivacyRequest, req.id)
    assert (req.status, req.approved_by_id) == ("approved", uid("privacy2"))


def test_privacy_officer_logs_a_request_in_api_and_another_officer_approves(client, api, contact):
    po = api("privacy")
    resp = client.post(
        "/api/v1/privacy_request/", json={"request_type": "marketing_opt_out", "contact_id": contact.id}, headers=po
    )
    assert resp.status_code == 201, resp.get_json()
    rid = resp.get_json()["id"]
    assert db.session.get(PrivacyRequest, rid).requested_by_id == uid("privacy")
    resp = client.post(f"/api/v1/privacy_request/{rid}/approve", headers=po)
    assert resp.status_code == 422
    assert "four eyes" in resp.get_json()["message"]
    resp = client.post(f"/api/v1/privacy_request/{rid}/deny", json={"reason": "duplicate"}, headers=po)
    assert resp.status_code == 422
    assert "four eyes" in resp.get_json()["message"]
    resp = client.post(f"/api/v1/privacy_request/{rid}/approve", headers=api("privacy2"))
    assert resp.status_code == 200
    assert resp.get_json()["result"]["status"] == "approved"
    db.session.expire_all()
    assert db.session.get(PrivacyRequest, rid).approved_by_id == uid("privacy2")
