"""The public request form: a code by real SMTP, expiry, wrong codes, rate limits, no
enumeration, bad input refused with nothing stored or rendered as HTML."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app import db
from app.core.queues import get_redis
from app.mail.models import MailMessage
from app.privacy import intake
from app.privacy.models import PrivacyRequest
from tests.helpers import csrf_token_from, run_jobs

FORM = {
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "request_type": "access",
    "jurisdiction": "gdpr",
    "details": "I write to your page as Ada L.",
}


def _submit(client, **changes):
    page = client.get("/privacy/request").get_data(as_text=True)
    data = {**FORM, **changes, "csrf_token": csrf_token_from(page)}
    return client.post("/privacy/request", data=data)


def _code(smtp) -> str:
    run_jobs(("default",))
    match = re.search(r"\b(\d{6})\b", smtp.texts()[-1])
    assert match is not None
    return match.group(1)


def _verify(client, location: str, code: str):
    page = client.get(location).get_data(as_text=True)
    return client.post(location, data={"code": code, "csrf_token": csrf_token_from(page)})


def _requests() -> int:
    return int(db.session.scalar(select(func.count()).select_from(PrivacyRequest)) or 0)


def test_the_whole_flow_opens_a_web_request_and_mails_the_receipt(client, smtp):
    resp = _submit(client)
    assert resp.status_code == 303
    location = resp.headers["Location"]
    assert "/privacy/request/verify/" in location
    assert _requests() == 0
    code = _code(smtp)
    assert smtp.messages[-1]["Subject"] == "Your verification code"
    done = _verify(client, location, code)
    assert done.status_code == 201
    req = db.session.scalar(select(PrivacyRequest))
    assert req.source == "web"
    assert req.contact_id is None
    assert req.requester_email == "ada@example.org"
    assert req.details == {"requester_name": "Ada Lovelace", "message": "I write to your page as Ada L."}
    assert req.confirmation_code in done.get_data(as_text=True)
    run_jobs(("default",))
    assert smtp.messages[-1]["Subject"] == "We received your privacy request (a copy of your data)"
    # the code is single-use
    again = _verify(client, location, code)
    assert again.status_code == 400
    assert "expired or was already used" in again.get_data(as_text=True)
    assert _requests() == 1


def test_wrong_codes_count_and_the_fifth_ends_it(client, smtp):
    location = _submit(client).headers["Location"]
    code = _code(smtp)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        resp = _verify(client, location, wrong)
        assert resp.status_code == 400
        assert f"{left} tries left" in resp.get_data(as_text=True)
    resp = _verify(client, location, wrong)
    assert "wrong five times" in resp.get_data(as_text=True)
    assert _verify(client, location, code).status_code == 400
    assert _requests() == 0


def test_an_expired_code_opens_nothing(client, smtp):
    location = _submit(client).headers["Location"]
    code = _code(smtp)
    token = location.rsplit("/", 1)[1]
    get_redis().delete("omnicrm:intake:t:" + token)  # what the 15-minute TTL does
    resp = _verify(client, location, code)
    assert resp.status_code == 400
    assert "expired" in resp.get_data(as_text=True)
    assert _requests() == 0


def test_the_code_expires_after_15_minutes(client, smtp):
    location = _submit(client).headers["Location"]
    token = location.rsplit("/", 1)[1]
    ttl = get_redis().ttl("omnicrm:intake:t:" + token)
    assert 14 * 60 < ttl <= 15 * 60


def test_rate_limited_per_address_and_per_client(client, smtp):
    for _ in range(intake.PER_ADDRESS_PER_HOUR):
        assert _submit(client).status_code == 303
    limited = _submit(client)
    assert limited.status_code == 429
    assert "Too many requests" in limited.get_data(as_text=True)
    for i in range(intake.PER_CLIENT_PER_HOUR - intake.PER_ADDRESS_PER_HOUR - 1):
        assert _submit(client, email=f"other{i}@example.org").status_code == 303
    assert _submit(client, email="new@example.org").status_code == 429


def test_no_enumeration_the_answer_is_the_same_for_a_known_contact(client, smtp, contact):
    known = _submit(client, email="ada@example.org")
    unknown = _submit(client, email="nobody@example.net")
    assert known.status_code == unknown.status_code == 303
    a = client.get(known.headers["Location"]).get_data(as_text=True)
    b = client.get(unknown.headers["Location"]).get_data(as_text=True)
    assert a.replace(known.headers["Location"], "") == b.replace(unknown.headers["Location"], "")


def test_csrf_is_required(client):
    resp = client.post("/privacy/request", data=FORM)
    assert resp.status_code == 400
    assert db.session.scalar(select(MailMessage.id)) is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"name": ""}, "Please give your name."),
        ({"name": "x" * 101}, "at most 100 characters"),
        ({"name": "<script>alert(1)</script>"}, "plain text"),
        ({"name": "Ada\r\nBcc: eve@example.org"}, None),  # folded to one line: accepted as text
        ({"email": "ada@example.org\r\nBcc: eve@example.org"}, "not a valid e-mail address"),
        ({"email": "Ada <ada@example.org>"}, "not a valid e-mail address"),
        ({"request_type": "delete_everything"}, "choose what you are asking for"),
        ({"jurisdiction": "lgpd"}, "GDPR or CCPA"),
        ({"details": "x" * 2001}, "at most 2,000 characters"),
    ],
)
def test_bad_input_is_refused_with_nothing_stored(client, smtp, changes, reason):
    resp = _submit(client, **changes)
    if reason is None:
        assert resp.status_code == 303
        run_jobs(("default",))
        msg = smtp.messages[-1]
        assert msg["To"] == "ada@example.org"
        assert msg["Bcc"] is None
        return
    assert resp.status_code == 400
    body = resp.get_data(as_text=True)
    assert reason.lower() in body.lower()
    assert "<script>alert(1)</script>" not in body
    assert db.session.scalar(select(MailMessage.id)) is None
    assert _requests() == 0


def test_the_form_is_linked_from_the_policy_page(client):
    assert 'href="/privacy/request"' in client.get("/privacy").get_data(as_text=True)


def test_a_web_request_cannot_be_approved_before_it_is_matched_to_a_contact(client, smtp, api):
    location = _submit(client).headers["Location"]
    _verify(client, location, _code(smtp))
    req = db.session.scalar(select(PrivacyRequest))
    resp = client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy"))
    assert resp.status_code == 422
    assert "match this web request to a contact first" in resp.get_json()["message"]
