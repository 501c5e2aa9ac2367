"""An erased person's items are discarded one by one; after the erasure they may write again."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.crypto import keyed_hash
from app.core.models import utcnow
from app.webhooks import batch
from app.webhooks.models import WebhookEvent
from tests.webhooks.webhook_helpers import PSID, echo_item, item, now_ms, payload

LIVE = "8800990011"


def _erase(contact: Contact, minutes_ago: int = 5) -> None:
    """What erase_contact leaves: a tombstone with the PSID hash, no PSID, no messages."""
    db.session.execute(Message.__table__.delete())
    db.session.execute(Conversation.__table__.delete().where(Conversation.contact_id == contact.id))
    contact.psid_hash = keyed_hash(contact.psid)
    contact.psid = contact.first_name = contact.last_name = None
    contact.erased_at = utcnow() - timedelta(minutes=minutes_ago)
    db.session.commit()


def _texts() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(Message.text).order_by(Message.created_at, Message.id)))


def _events() -> int:
    return db.session.scalar(select(func.count(WebhookEvent.id)))


def test_mixed_post_keeps_the_live_contacts_items(post_webhook, contact, jobs):
    _erase(contact)
    late = now_ms() - 10 * 60_000  # before the erasure: a retry of an old event
    body = payload(
        item(PSID, late, message={"mid": "m_erased", "text": "erased words"}),
        item(LIVE, now_ms(), message={"mid": "m_live", "text": "live words"}),
    )
    assert post_webhook(body).status_code == 200
    jobs(("webhooks",))
    assert _texts() == ["live words"]
    live = db.session.scalar(select(Contact).where(Contact.psid == LIVE))
    assert live is not None
    assert live.erased_at is None
    assert db.session.scalar(select(func.count(Contact.id))) == 2  # tombstone + the live contact
    assert _events() == 0  # the raw body held the erased person's words: it goes once applied


def test_outcome_counts_items_not_events(post_webhook, contact):
    _erase(contact)
    late = now_ms() - 10 * 60_000
    assert (
        post_webhook(
            payload(
                item(PSID, late, message={"mid": "m_e1", "text": "a"}),
                item(LIVE, message={"mid": "m_l1", "text": "b"}),
                item(LIVE, message={"mid": "m_l2", "text": "c"}),
            )
        ).status_code
        == 200
    )
    event_id = db.session.scalar(select(WebhookEvent.id))
    outcome = batch.process_event(event_id)
    assert (outcome.handled, outcome.discarded) == (2, 1)


def test_new_message_after_erasure_creates_a_fresh_contact(post_webhook, contact, jobs):
    tomb_id = contact.id
    _erase(contact)
    resp = post_webhook(payload(item(PSID, now_ms(), message={"mid": "m_new", "text": "hello again"})))
    assert resp.status_code == 200
    jobs(("webhooks",))
    assert _texts() == ["hello again"]
    fresh = db.session.scalar(select(Contact).where(Contact.psid == PSID))
    assert fresh is not None
    assert fresh.id != tomb_id
    assert fresh.erased_at is None
    assert fresh.first_name is None  # nothing of the erased record comes back
    tomb = db.session.get(Contact, tomb_id)
    assert tomb.psid is None
    assert tomb.erased_at is not None
    assert _events() == 1  # a genuine new event is kept like any other


def test_items_without_timestamp_from_an_erased_person_are_discarded(post_webhook, contact, jobs):
    _erase(contact)
    no_ts = {"sender": {"id": PSID}, "recipient": {"id": "1234567890"}, "message": {"mid": "m_nots", "text": "?"}}
    assert post_webhook(payload(no_ts)).status_code == 200
    jobs(("webhooks",))
    assert _texts() == []
    assert _events() == 0
    assert db.session.scalar(select(func.count(Contact.id))) == 1


def test_read_or_echo_after_erasure_does_not_recreate_the_contact(post_webhook, contact, jobs):
    _erase(contact)
    body = payload(
        item(PSID, now_ms(), read={"watermark": now_ms()}),
        echo_item(PSID, now_ms(), mid="m_echo_after", text="from Meta's inbox"),
    )
    assert post_webhook(body).status_code == 200
    jobs(("webhooks",))
    assert _texts() == []
    assert _events() == 0
    assert db.session.scalar(select(func.count(Contact.id))) == 1


def test_retry_and_new_message_in_one_post(post_webhook, contact, jobs):
    _erase(contact)
    body = payload(
        item(PSID, now_ms() - 10 * 60_000, message={"mid": "m_old", "text": "before erasure"}),
        item(PSID, now_ms(), message={"mid": "m_after", "text": "after erasure"}),
    )
    assert post_webhook(body).status_code == 200
    jobs(("webhooks",))
    assert _texts() == ["after erasure"]
    assert db.session.scalar(select(func.count(Contact.id))) == 2
