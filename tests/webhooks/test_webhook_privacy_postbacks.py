"""Privacy requests from inside Messenger: a signed postback opens one (source messenger),
taps while it is open add nothing, and the contact is answered in the window with the link."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.conversations.models import Message
from app.privacy.models import PrivacyRequest
from tests.webhooks.webhook_helpers import item, now_ms


def _tap(deliver, jobs, payload: str, mid: str, ts: int | None = None):
    deliver(item(ts=ts or now_ms(), postback={"mid": mid, "title": "Privacy", "payload": payload}))
    jobs(("privacy",))


def test_a_privacy_postback_opens_a_verified_request_and_answers_in_the_window(deliver, jobs, page):
    _tap(deliver, jobs, "PRIVACY_ERASURE", "m_priv_1")
    req = db.session.scalar(select(PrivacyRequest))
    assert req.request_type == "erasure"
    assert req.source == "messenger"
    assert req.contact is not None
    assert req.contact.psid == "7001002003"
    out = db.session.scalars(select(Message).where(Message.direction == "out")).all()
    assert len(out) == 1
    assert out[0].messaging_type == "RESPONSE"
    assert out[0].tag is None
    assert f"/privacy/deletion/{req.confirmation_code}" in out[0].text


def test_repeated_taps_while_open_make_no_second_request(deliver, jobs, page):
    _tap(deliver, jobs, "PRIVACY_ACCESS", "m_priv_a", ts=now_ms() - 2000)
    _tap(deliver, jobs, "PRIVACY_ACCESS", "m_priv_b")
    assert len(db.session.scalars(select(PrivacyRequest)).all()) == 1
    _tap(deliver, jobs, "PRIVACY_OPT_OUT", "m_priv_c")
    kinds = sorted(r.request_type for r in db.session.scalars(select(PrivacyRequest)))
    assert kinds == ["access", "marketing_opt_out"]


def test_a_rectification_tap_needs_no_fields_and_other_payloads_open_nothing(deliver, jobs, page):
    _tap(deliver, jobs, "PRIVACY_RECTIFICATION", "m_priv_r")
    _tap(deliver, jobs, "GET_STARTED", "m_start")
    _tap(deliver, jobs, "privacy_access", "m_lower")
    reqs = db.session.scalars(select(PrivacyRequest)).all()
    assert [r.request_type for r in reqs] == ["rectification"]
    assert reqs[0].details is None
