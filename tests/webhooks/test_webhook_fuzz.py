"""Property-based: whatever Meta (or an attacker) posts, the answer is 400/403/200, never 500,
and processing never leaves a half-written message."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from app import db
from app.conversations.models import Conversation, Message
from app.webhooks import batch
from app.webhooks.models import EventStatus, WebhookEvent
from tests.webhooks.webhook_helpers import PAGE_ID, sign256

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20), st.just("\x00\ud800")
)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=10,
)
ids = st.one_of(st.just(PAGE_ID), st.just("7001"), st.text(max_size=5), st.integers(), st.none(), json_values)
messaging_item = st.fixed_dictionaries(
    {"sender": st.one_of(st.fixed_dictionaries({"id": ids}), json_values)},
    optional={
        "recipient": st.fixed_dictionaries({"id": ids}),
        "timestamp": st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=4)),
        "message": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "mid": st.one_of(st.text(max_size=6), st.integers()),
                    "text": json_values,
                    "is_echo": st.booleans(),
                    "metadata": st.one_of(st.just("omnicrm:1"), st.just("omnicrm:x"), st.text(max_size=5)),
                    "attachments": json_values,
                    "quick_reply": json_values,
                },
            ),
        ),
        "delivery": json_values,
        "read": json_values,
        "postback": json_values,
        "reaction": json_values,
        "referral": json_values,
        "optin": json_values,
    },
)
meta_like = st.fixed_dictionaries(
    {
        "object": st.one_of(st.just("page"), json_values),
        "entry": st.one_of(
            st.lists(
                st.fixed_dictionaries(
                    {"id": ids}, optional={"time": json_values, "messaging": st.lists(messaging_item, max_size=4)}
                ),
                max_size=3,
            ),
            json_values,
        ),
    }
)
bodies = st.one_of(st.binary(max_size=300), meta_like.map(lambda d: json.dumps(d).encode()))


def _expected_status(body: bytes) -> int:
    """200 for a Meta-shaped payload of any object, 400 otherwise (the shape rules, stated independently)."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):
        return 400
    if not isinstance(data, dict) or not isinstance(data.get("entry"), list):
        return 400
    if not isinstance(data.get("object"), str) or not data["object"]:  # any other object is stored skipped
        return 400
    for entry in data["entry"]:
        if not isinstance(entry, dict):
            return 400
        items = entry.get("messaging")
        if items is not None and not (isinstance(items, list) and all(isinstance(i, dict) for i in items)):
            return 400
    return 200


def _post(client, app, body: bytes, signed: bool):
    headers = {"X-Hub-Signature-256": sign256(body, app.config["FB_APP_SECRET"])} if signed else {}
    return client.post("/webhooks/messenger", data=body, headers=headers)


@SETTINGS
@given(body=bodies, signed=st.booleans())
def test_any_body_is_answered_400_403_or_200(app, client, page, body, signed):
    before = db.session.scalar(select(func.count(WebhookEvent.id)))
    resp = _post(client, app, body, signed)
    after = db.session.scalar(select(func.count(WebhookEvent.id)))
    if not signed:
        assert resp.status_code == 403
    else:
        assert resp.status_code == _expected_status(body)
    assert after - before == (1 if resp.status_code == 200 else 0)


@SETTINGS
@given(body=meta_like)
def test_processing_any_page_payload_is_all_or_nothing(app, client, page, body):
    raw = json.dumps(body).encode()
    resp = _post(client, app, raw, True)
    assert resp.status_code == _expected_status(raw)
    if resp.status_code != 200:
        return
    event_id = db.session.scalar(select(func.max(WebhookEvent.id)))
    before = db.session.scalar(select(func.count(Message.id)))
    batch.process_event(event_id)  # must not raise on any shape that passed ingestion
    db.session.expire_all()
    assert db.session.get(WebhookEvent, event_id).status in (EventStatus.PROCESSED, EventStatus.SKIPPED)
    # every stored message belongs to a conversation and carries something
    orphans = db.session.scalar(
        select(func.count(Message.id)).where(~Message.conversation_id.in_(select(Conversation.id)))
    )
    assert orphans == 0
    for msg in db.session.scalars(select(Message)):
        assert msg.text is not None or msg.attachments or msg.meta or msg.kind != "text"
    assert db.session.scalar(select(func.count(Message.id))) >= before
    db.session.execute(text("DELETE FROM message"))
    db.session.commit()
