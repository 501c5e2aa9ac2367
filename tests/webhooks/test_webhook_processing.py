"""Processing: every Messenger event kind, batches, duplicates, echoes, watermarks, erasure, retries."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select, text, update

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.crypto import keyed_hash
from app.core.models import utcnow
from app.core.queues import enqueue, get_queue
from app.webhooks import batch, signals
from app.webhooks.models import EventStatus, WebhookEvent
from tests.helpers import csrf_token_from
from tests.webhooks.webhook_helpers import PAGE_ID, PSID, echo_item, item, now_ms, payload


def _messages() -> list[Message]:
    db.session.expire_all()
    return list(db.session.scalars(select(Message).order_by(Message.created_at, Message.id)))


def _event() -> WebhookEvent:
    db.session.expire_all()
    return db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id.desc())).first()


def test_text_message_creates_contact_conversation_and_message(deliver, page):
    ts = now_ms()
    deliver(item("555000111", ts, message={"mid": "m_text", "text": "hello, world!"}))
    contact = db.session.scalar(select(Contact).where(Contact.psid == "555000111"))
    assert contact is not None
    assert contact.psid_hash == keyed_hash("555000111")
    assert contact.display_name == "Messenger user 0111"
    assert contact.last_inbound_at is not None
    conv = db.session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))
    assert conv.status == "open"
    assert conv.unread_count == 1
    assert conv.last_inbound_at == conv.last_message_at
    [msg] = _messages()
    assert (msg.mid, msg.direction, msg.text, msg.kind, msg.status) == (
        "m_text",
        "in",
        "hello, world!",
        "text",
        "received",
    )
    assert abs((msg.created_at - contact.last_inbound_at).total_seconds()) < 0.01
    assert _event().status == EventStatus.PROCESSED
    assert get_queue("default").count == 1  # profile fetch for the new contact


def test_quick_reply_payload_is_kept(deliver, page):
    deliver(item(message={"mid": "m_qr", "text": "Red", "quick_reply": {"payload": "PICK_RED"}}))
    [msg] = _messages()
    assert msg.text == "Red"
    assert msg.meta == {"quick_reply_payload": "PICK_RED"}


def test_every_attachment_type_keeps_type_and_url(deliver, page):
    atts = [
        {"type": t, "payload": {"url": f"https://scontent.example/{t}.bin"}}
        for t in ("image", "video", "audio", "file")
    ]
    atts.append({"type": "location", "payload": {"coordinates": {"lat": 52.52, "long": 13.40}}})
    atts.append({"title": "Omni CRM", "url": "https://l.facebook.com/l.php?u=x", "type": "fallback", "payload": None})
    deliver(item(message={"mid": "m_att", "attachments": atts}))
    [msg] = _messages()
    assert msg.kind == "attachment"
    assert msg.text is None
    assert [a["type"] for a in msg.attachments] == ["image", "video", "audio", "file", "location", "fallback"]
    assert msg.attachments[0]["url"] == "https://scontent.example/image.bin"
    assert msg.attachments[4]["coordinates"] == {"lat": 52.52, "long": 13.40}
    assert msg.attachments[5]["url"] == "https://l.facebook.com/l.php?u=x"
    raw = db.session.execute(text("SELECT attachments FROM message")).scalar_one()
    assert "scontent" not in raw  # encrypted at rest


def test_postback_reaction_referral_optin(deliver, page):
    t = now_ms()
    deliver(
        item(ts=t, postback={"mid": "m_pb", "title": "Get Started", "payload": "GET_STARTED"}),
        item(ts=t + 1, reaction={"reaction": "love", "emoji": "\u2764\ufe0f", "action": "react", "mid": "m_pb"}),
        item(ts=t + 2, reaction={"reaction": "love", "emoji": "\u2764\ufe0f", "action": "unreact", "mid": "m_pb"}),
        item(ts=t + 3, referral={"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"}),
        item(
            ts=t + 4, optin={"ref": "newsletter", "type": "notification_messages", "notification_messages_token": "T"}
        ),
    )
    msgs = _messages()
    assert [m.kind for m in msgs] == ["postback", "reaction", "reaction", "referral", "optin"]
    assert msgs[0].text == "Get Started"
    assert msgs[0].meta["payload"] == "GET_STARTED"
    assert msgs[0].mid == "m_pb"
    assert msgs[1].meta == {"reaction": "love", "emoji": "\u2764\ufe0f", "action": "react", "mid": "m_pb"}
    assert msgs[2].meta["action"] == "unreact"
    assert msgs[3].meta == {"ref": "summer", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    assert msgs[4].meta == {"ref": "newsletter", "type": "notification_messages"}  # no token kept
    assert _event().status == EventStatus.PROCESSED


def test_reaction_is_set_on_its_message_and_unreact_removes_it(deliver, page):
    t = now_ms()
    deliver(item(ts=t, message={"mid": "m_target", "text": "hi"}))
    deliver(item(ts=t + 1, reaction={"reaction": "like", "emoji": "\U0001f44d", "action": "react", "mid": "m_target"}))
    target = _messages()[0]
    assert target.meta["reaction"] == {"emoji": "\U0001f44d", "reaction": "like"}
    deliver(item(ts=t + 2, reaction={"reaction": "like", "action": "unreact", "mid": "m_target"}))
    target = _messages()[0]
    assert "reaction" not in target.meta
    assert [m.kind for m in _messages()] == ["text", "reaction", "reaction"]  # the rows stay (dedupe, history)


def test_sticker_and_template_details_are_kept(deliver, page):
    sticker = {"type": "image", "payload": {"url": "https://scontent.example/s.png", "sticker_id": 369239263222822}}
    template = {
        "type": "template",
        "payload": {
            "template_type": "generic",
            "elements": [
                {"title": "Cargo bike", "buttons": [{"type": "web_url", "url": "https://e.example/b", "title": "View"}]}
            ],
        },
    }
    deliver(item(message={"mid": "m_st", "sticker_id": 369239263222822, "attachments": [sticker]}))
    deliver(echo_item(mid="m_tp", attachments=[template]))
    st, tp = _messages()
    assert st.attachments[0]["sticker_id"] == "369239263222822"
    assert tp.attachments[0]["template"] == {
        "template_type": "generic",
        "title": "Cargo bike",
        "buttons": [{"title": "View", "url": "https://e.example/b"}],
    }


def test_unknown_kinds_are_kept_and_skipped(deliver, page):
    deliver(item(account_linking={"status": "linked"}), item(policy_enforcement={"action": "block"}))
    event = _event()
    assert event.status == EventStatus.SKIPPED
    assert event.summary == "unknown:2"
    assert _messages() == []


def test_unknown_page_is_skipped(deliver, page):
    deliver(item(page_id="999", message={"mid": "m_x", "text": "hi"}), page_id="999")
    assert _event().status == EventStatus.SKIPPED
    assert _messages() == []


def test_multi_entry_batch_with_several_people(post_webhook, page, jobs):
    t = now_ms()
    body = {
        "object": "page",
        "entry": [
            {"id": PAGE_ID, "time": t, "messaging": [item("111", t, message={"mid": "m_a1", "text": "a1"})]},
            {
                "id": PAGE_ID,
                "time": t + 5,
                "messaging": [
                    item("222", t + 2, message={"mid": "m_b1", "text": "b1"}),
                    item("111", t + 1, message={"mid": "m_a2", "text": "a2"}),
                ],
            },
        ],
    }
    assert post_webhook(body).status_code == 200
    jobs(("webhooks",))
    assert db.session.scalar(select(func.count(Contact.id))) == 2
    assert db.session.scalar(select(func.count(Conversation.id))) == 2
    assert [m.text for m in _messages()] == ["a1", "a2", "b1"]
    conv_a = db.session.scalar(select(Conversation).join(Contact).where(Contact.psid == "111"))
    assert conv_a.unread_count == 2


def test_duplicate_delivery_gives_one_message(post_webhook, page, jobs):
    body = payload(
        item(message={"mid": "m_dup", "text": "once"}),
        item(reaction={"reaction": "like", "action": "react", "mid": "m_dup"}),
    )
    assert post_webhook(body).status_code == 200
    assert post_webhook(body).status_code == 200  # Meta's retry
    jobs(("webhooks",))
    assert [m.kind for m in _messages()] == ["text", "reaction"]
    conv = db.session.scalar(select(Conversation))
    assert conv.unread_count == 1
    statuses = db.session.scalars(select(WebhookEvent.status)).all()
    assert statuses == [EventStatus.PROCESSED, EventStatus.PROCESSED]
    batch.process_event(_event().id)  # processing an event again changes nothing
    assert len(_messages()) == 2


def test_events_apply_in_timestamp_order_whatever_the_processing_order(post_webhook, page, jobs):
    t = now_ms()
    assert post_webhook(payload(item(ts=t + 1000, message={"mid": "m_2", "text": "second"}))).status_code == 200
    assert post_webhook(payload(item(ts=t, message={"mid": "m_1", "text": "first"}))).status_code == 200
    jobs(("webhooks",))
    assert [m.text for m in _messages()] == ["first", "second"]
    conv = db.session.scalar(select(Conversation))
    assert conv.last_message_at == _messages()[-1].created_at


def test_closed_conversation_reopens_on_inbound(deliver, conversation):
    conversation.status = "closed"
    conversation.unread_count = 0
    db.session.commit()
    deliver(item(message={"mid": "m_re", "text": "me again"}))
    db.session.expire_all()
    assert conversation.status == "open"
    assert conversation.unread_count == 1
    assert get_queue("default").count == 0  # known contact: no profile fetch


def _ours(conversation, status="sending", minutes_ago=1) -> Message:
    msg = Message(
        conversation_id=conversation.id,
        direction="out",
        text="Your order ships today",
        kind="text",
        status=status,
        created_at=utcnow() - timedelta(minutes=minutes_ago),
    )
    db.session.add(msg)
    db.session.commit()
    return msg


def test_echo_of_our_reply_sets_mid_and_sent(deliver, conversation):
    ours = _ours(conversation)
    deliver(echo_item(mid="m_ours", text=ours.text, metadata=f"omnicrm:{ours.id}"))
    [msg] = _messages()
    assert (msg.id, msg.mid, msg.status) == (ours.id, "m_ours", "sent")
    assert msg.sent_at is not None


def test_echo_from_elsewhere_is_recorded_outbound(deliver, conversation):
    deliver(echo_item(mid="m_inbox", text="Sent from the Page inbox"))
    [msg] = _messages()
    assert (msg.direction, msg.status, msg.mid, msg.text) == ("out", "sent", "m_inbox", "Sent from the Page inbox")
    db.session.expire_all()
    assert conversation.unread_count == 0


def test_delivery_and_read_watermarks(deliver, conversation):
    old = _ours(conversation, status="sent", minutes_ago=10)
    late = _ours(conversation, status="sent", minutes_ago=-10)  # sent after the watermark
    failed = _ours(conversation, status="failed", minutes_ago=10)
    wm = now_ms()
    deliver(item(delivery={"mids": [], "watermark": wm}))
    db.session.expire_all()
    assert (old.status, late.status, failed.status) == ("delivered", "sent", "failed")
    assert old.delivered_at is not None
    deliver(item(read={"watermark": wm}))
    db.session.expire_all()
    assert old.status == "read"
    assert old.read_at is not None
    deliver(item(delivery={"mids": [], "watermark": wm}))  # a late delivery never downgrades read
    db.session.expire_all()
    assert old.status == "read"
    assert late.status == "sent"


def test_delivery_by_mid(deliver, conversation):
    ours = _ours(conversation, status="sent", minutes_ago=-60)
    ours.mid = "m_known"
    db.session.commit()
    deliver(item(delivery={"mids": ["m_known", "m_unknown"], "watermark": now_ms() - 3600_000}))
    db.session.expire_all()
    assert ours.status == "delivered"


def test_late_retry_after_erasure_is_discarded(deliver, conversation, post_webhook, jobs):
    contact = conversation.contact
    contact_id = contact.id
    db.session.execute(text("DELETE FROM message"))
    contact.psid_hash = keyed_hash(PSID)
    contact.psid = None
    contact.first_name = contact.last_name = None
    contact.erased_at = utcnow()
    db.session.commit()
    late = item(ts=now_ms() - 60_000, message={"mid": "m_late", "text": "old news"})  # sent before the erasure
    assert post_webhook(payload(late)).status_code == 200
    jobs(("webhooks",))
    assert _messages() == []
    assert db.session.scalar(select(func.count(WebhookEvent.id))) == 0  # raw row gone too
    assert db.session.scalars(select(Contact.id)).all() == [contact_id]


def test_restricted_contact_message_stored_without_profile_fetch(deliver, contact):
    contact.restricted = True
    db.session.commit()
    deliver(item(message={"mid": "m_r", "text": "still here"}))
    assert [m.text for m in _messages()] == ["still here"]
    assert get_queue("default").count == 0


def test_failure_is_retried_then_left_in_error_and_reprocessable(app, post_webhook, page, jobs):
    assert post_webhook(payload(item(message={"mid": "m_err", "text": "hi"}))).status_code == 200
    event_id = _event().id
    good = db.session.execute(text("SELECT payload FROM webhook_event")).scalar_one()
    db.session.execute(text("UPDATE webhook_event SET payload = 'not-a-fernet-token'"))
    db.session.commit()
    jobs(("webhooks",))  # the drain job fails it: counted, left pending for its own job
    event = _event()  # (payload is deferred: reading the status does not decrypt it)
    assert (event.status, event.attempts) == (EventStatus.PENDING, 1)
    assert "DecryptionError" in event.error

    assert signals.sweep_pending(older_than_seconds=0) == 1  # its own job, with RQ retries
    jobs(("webhooks",))
    event = _event()
    assert (event.status, event.attempts) == (EventStatus.PENDING, 2)
    assert f"webhook-event-{event_id}" in get_queue("webhooks").scheduled_job_registry.get_job_ids()
    assert signals.sweep_pending(older_than_seconds=0) == 0  # a retry is scheduled: not twice

    enqueue("app.webhooks.tasks.process_webhook_event", event_id, queue="webhooks")  # no retries left
    jobs(("webhooks",))
    event = _event()
    assert (event.status, event.attempts) == (EventStatus.ERROR, 3)
    assert _messages() == []

    db.session.execute(text("UPDATE webhook_event SET payload = :p"), {"p": good})
    db.session.commit()
    assert signals.requeue_events([event_id]) == 1
    jobs(("webhooks",))
    event = _event()
    assert event.status == EventStatus.PROCESSED
    assert event.error is None
    assert [m.mid for m in _messages()] == ["m_err"]


def test_admin_grid_and_reprocess_action(login_as, client, post_webhook, page, jobs):
    assert post_webhook(payload(item(message={"mid": "m_v", "text": "hi"}))).status_code == 200
    db.session.execute(update(WebhookEvent).values(status=EventStatus.ERROR, error="boom"))
    db.session.commit()
    event_id = _event().id
    login_as("agent")
    assert client.get("/webhookeventmodelview/list/").status_code == 403
    client.get("/logout/")
    login_as("admin")
    page_html = client.get("/webhookeventmodelview/list/")
    assert page_html.status_code == 200
    html = page_html.get_data(as_text=True)
    assert "boom" in html
    assert "m_v" not in html  # the raw payload (personal data) is not shown in the grid
    token = csrf_token_from(html)
    resp = client.post(
        "/webhookeventmodelview/action_post",
        data={"action": "reprocess", "rowid": [str(event_id)], "csrf_token": token},
    )
    assert resp.status_code == 302
    jobs(("webhooks",))
    assert _event().status == EventStatus.PROCESSED
    assert json.loads(_event().payload)["object"] == "page"


def test_event_statuses_keep_their_stored_names():
    """The column holds these exact strings (contract): the enum must not rename them."""
    assert [status.value for status in EventStatus] == ["pending", "processed", "skipped", "error"]
    assert EventStatus.PENDING == "pending"
    assert str(EventStatus.ERROR) == "error"
