"""Instagram Direct through the webhook: Meta's documented `object: instagram` shapes, linking,
skipped objects, echoes that never create a conversation, unsends, edits and seen receipts."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.webhooks.models import EventStatus, WebhookEvent
from tests.webhooks.webhook_helpers import (
    IG_ID,
    IGSID,
    ig_echo_item,
    ig_item,
    ig_payload,
    item,
    now_ms,
    payload,
)


@pytest.fixture
def ig_page(page):
    page.ig_account_id = IG_ID
    db.session.commit()
    return page


@pytest.fixture
def ig_deliver(post_webhook, jobs):
    """Post a signed Instagram body and run the webhook queue."""

    def _deliver(*items: dict, ig_id: str = IG_ID):
        resp = post_webhook(ig_payload(*items, ig_id=ig_id))
        assert resp.status_code == 200, resp.get_data(as_text=True)
        jobs(("webhooks",))
        return resp

    return _deliver


def _messages() -> list[Message]:
    db.session.expire_all()
    return list(db.session.scalars(select(Message).order_by(Message.created_at, Message.id)))


def _events() -> list[WebhookEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_text_message_creates_an_instagram_contact_and_conversation(ig_deliver, ig_page):
    # Meta's documented shape: entry.id = IG account id, sender = IGSID, recipient = IG account
    ig_deliver(ig_item(message={"mid": "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQx", "text": "Hi there"}))
    contact = db.session.scalar(select(Contact).where(Contact.psid == IGSID))
    assert (contact.channel, contact.page_id, contact.display_name) == ("instagram", ig_page.id, "Instagram user 7788")
    conv = db.session.scalar(select(Conversation).where(Conversation.contact_id == contact.id))
    assert (conv.channel, conv.unread_count, conv.status) == ("instagram", 1, "open")
    [msg] = _messages()
    assert (msg.direction, msg.text, msg.kind, msg.status) == ("in", "Hi there", "text", "received")
    assert _events()[-1].status == EventStatus.PROCESSED


def test_events_of_an_unlinked_instagram_account_are_stored_and_skipped(ig_deliver, page):
    ig_deliver(ig_item(message={"mid": "m_ig_unlinked", "text": "anyone?"}), ig_id="17841499999999999")
    [event] = _events()
    assert event.status == EventStatus.SKIPPED
    assert _count(Contact) == 0
    assert _count(Message) == 0


@pytest.mark.parametrize("obj", ["user", "whatsapp_business_account", "permissions"])
def test_other_objects_are_answered_200_and_stored_skipped(post_webhook, jobs, page, obj):
    resp = post_webhook({"object": obj, "entry": [{"id": "1", "time": now_ms(), "changes": [{"field": "x"}]}]})
    assert resp.status_code == 200
    [event] = _events()
    assert event.status == EventStatus.SKIPPED
    jobs(("webhooks",))
    assert _events()[0].status == EventStatus.SKIPPED


def test_changes_instead_of_messaging_is_stored_and_skipped(post_webhook, jobs, ig_page):
    body = {
        "object": "instagram",
        "entry": [
            {
                "id": IG_ID,
                "time": now_ms(),
                "changes": [{"field": "comments", "value": {"id": "17865799348089039", "text": "Nice!"}}],
            }
        ],
    }
    assert post_webhook(body).status_code == 200
    jobs(("webhooks",))
    [event] = _events()
    assert event.status == EventStatus.SKIPPED
    assert _count(Message) == 0


def test_dashboard_test_envelope_is_accepted_and_skipped(post_webhook, jobs, ig_page):
    # the App Dashboard's "Test" button: made-up ids and a string timestamp
    body = {
        "object": "instagram",
        "entry": [
            {
                "id": "0",
                "time": now_ms(),
                "messaging": [
                    {
                        "sender": {"id": "12334"},
                        "recipient": {"id": "23245"},
                        "timestamp": "1527459824",
                        "message": {"mid": "random_mid", "text": "random_text"},
                    }
                ],
            }
        ],
    }
    assert post_webhook(body).status_code == 200
    jobs(("webhooks",))
    assert [e.status for e in _events()] == [EventStatus.SKIPPED]


def test_unsigned_instagram_body_is_403_and_not_stored(post_webhook, ig_page):
    resp = post_webhook(ig_payload(ig_item(message={"mid": "m_forged", "text": "x"})), sign=False)
    assert resp.status_code == 403
    assert _events() == []


def test_echo_never_creates_a_contact_or_conversation(ig_deliver, ig_page):
    ig_deliver(ig_echo_item(igsid="9988776655", mid="m_ig_echo_orphan", text="sent from the Instagram app"))
    assert _count(Contact) == 0
    assert _count(Conversation) == 0
    assert _events()[0].status == EventStatus.SKIPPED


def test_echo_attaches_to_the_recipients_conversation_without_a_new_one(ig_deliver, ig_page):
    ig_deliver(ig_item(message={"mid": "m_ig_in", "text": "Do you ship to Oslo?"}))
    ig_deliver(ig_echo_item(mid="m_ig_out", text="We do!"))
    assert _count(Conversation) == 1
    assert _count(Contact) == 1
    inbound, echo = _messages()
    assert echo.conversation_id == inbound.conversation_id
    assert (echo.direction, echo.text, echo.status) == ("out", "We do!", "sent")


def test_attachments_reel_share_and_story_mention(ig_deliver, ig_page):
    ts = now_ms()
    cdn = "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id="

    def att(kind: str, n: int, **extra) -> dict:
        return {"attachments": [{"type": kind, "payload": {"url": f"{cdn}{n}", **extra}}]}

    ig_deliver(
        ig_item(ts=ts, message={"mid": "m_img", **att("image", 1)}),
        ig_item(ts=ts + 1, message={"mid": "m_reel", **att("ig_reel", 2, reel_video_id="1790", title="Reel")}),
        ig_item(ts=ts + 2, message={"mid": "m_share", **att("share", 3)}),
        ig_item(ts=ts + 3, message={"mid": "m_mention", **att("story_mention", 4)}),
    )
    img, reel, share, mention = _messages()
    assert [m.kind for m in (img, reel, share, mention)] == ["attachment", "attachment", "attachment", "story_mention"]
    assert [m.attachments[0]["type"] for m in (img, reel, share, mention)] == [
        "image",
        "ig_reel",
        "share",
        "story_mention",
    ]
    assert mention.attachments[0]["url"].endswith("asset_id=4")
    conv = db.session.scalar(select(Conversation))
    assert conv.last_inbound_at is not None  # a story mention opens the reply window
    assert conv.unread_count == 4


def test_story_reply_keeps_the_story_link(ig_deliver, ig_page):
    story = {"url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=5", "id": "17920001"}
    ig_deliver(ig_item(message={"mid": "m_story_reply", "text": "Love this!", "reply_to": {"story": story}}))
    [msg] = _messages()
    assert (msg.kind, msg.text) == ("story_reply", "Love this!")
    assert msg.meta["story"] == story
    assert {"type": "story", "url": story["url"]} in msg.attachments


def test_reactions_react_and_unreact(ig_deliver, ig_page):
    ts = now_ms()
    ig_deliver(ig_item(ts=ts, message={"mid": "m_liked", "text": "Is it in stock?"}))
    ig_deliver(
        ig_item(ts=ts + 1, reaction={"mid": "m_liked", "action": "react", "reaction": "love", "emoji": "\u2764\ufe0f"})
    )
    ig_deliver(ig_item(ts=ts + 2, reaction={"mid": "m_liked", "action": "unreact"}))
    _, react, unreact = _messages()
    assert (react.kind, react.text, react.meta["action"]) == ("reaction", "\u2764\ufe0f", "react")
    assert (unreact.kind, unreact.meta["action"], unreact.meta["mid"]) == ("reaction", "unreact", "m_liked")


def test_messaging_seen_marks_our_messages_read_by_mid(ig_deliver, ig_page):
    ts = now_ms()
    ig_deliver(ig_item(ts=ts, message={"mid": "m_q", "text": "Hello?"}))
    ig_deliver(ig_echo_item(ts=ts + 1000, mid="m_our_answer", text="Hi! How can we help?"))
    ig_deliver(ig_item(ts=ts + 5000, read={"mid": "m_our_answer"}))
    answer = db.session.scalar(select(Message).where(Message.mid == "m_our_answer"))
    assert answer.status == "read"
    assert answer.read_at is not None


def test_ice_breaker_postback(ig_deliver, ig_page):
    ig_deliver(ig_item(postback={"mid": "m_ice", "title": "What are your opening hours?", "payload": "HOURS"}))
    [msg] = _messages()
    assert (msg.kind, msg.text, msg.mid, msg.meta["payload"]) == (
        "postback",
        "What are your opening hours?",
        "m_ice",
        "HOURS",
    )
    assert db.session.scalar(select(Contact)).channel == "instagram"


def test_ig_me_referral_and_ad_referral(ig_deliver, ig_page):
    ts = now_ms()
    ig_deliver(ig_item(ts=ts, referral={"ref": "summer_sale", "source": "IGME_LINK", "type": "OPEN_THREAD"}))
    ig_deliver(
        ig_item(
            ts=ts + 1,
            message={
                "mid": "m_from_ad",
                "text": "Is this still available?",
                "referral": {"ref": "ad_ref", "ad_id": "6045246247433", "source": "ADS", "type": "OPEN_THREAD",
                             "ads_context_data": {"ad_title": "Summer", "photo_url": "https://example.invalid/p.jpg"}},
            },
        )
    )  # fmt: skip
    link, from_ad = _messages()
    assert (link.kind, link.meta) == ("referral", {"ref": "summer_sale", "source": "IGME_LINK", "type": "OPEN_THREAD"})
    assert from_ad.meta["referral"] == {
        "ref": "ad_ref",
        "source": "ADS",
        "type": "OPEN_THREAD",
        "ad_id": "6045246247433",
    }


def test_unsend_removes_the_text_from_storage(ig_deliver, ig_page):
    ts = now_ms()
    ig_deliver(ig_item(ts=ts, message={"mid": "m_regret", "text": "my card number is 4111"}))
    ig_deliver(ig_item(ts=ts + 1, message={"mid": "m_regret", "is_deleted": True}))
    [msg] = _messages()
    assert (msg.text, msg.attachments, msg.kind, msg.meta) == (None, None, "unsent", {"deleted": True})


def test_unsend_before_the_original_keeps_a_late_retry_out(ig_deliver, ig_page):
    ts = now_ms()
    ig_deliver(ig_item(ts=ts, message={"mid": "m_first", "text": "hello"}))
    ig_deliver(ig_item(ts=ts + 2, message={"mid": "m_gone", "is_deleted": True}))
    ig_deliver(ig_item(ts=ts + 1, message={"mid": "m_gone", "text": "oops, wrong chat"}))  # Meta's late retry
    texts = [(m.mid, m.text, m.kind) for m in _messages()]
    assert texts == [("m_first", "hello", "text"), ("m_gone", None, "unsent")]


def test_unsend_for_someone_unknown_creates_nothing(ig_deliver, ig_page):
    ig_deliver(ig_item(message={"mid": "m_never_seen", "is_deleted": True}))
    assert _count(Contact) == 0


def test_edit_replaces_the_text(ig_deliver, ig_page):
    ts = now_ms()
    ig_deliver(ig_item(ts=ts, message={"mid": "m_typo", "text": "see you tomorow"}))
    ig_deliver(ig_item(ts=ts + 1, message_edit={"mid": "m_typo", "text": "see you tomorrow", "num_edit": 1}))
    [msg] = _messages()
    assert (msg.text, msg.meta["edited"]) == ("see you tomorrow", 1)


def test_duplicate_mid_makes_one_message(post_webhook, jobs, ig_page):
    body = ig_payload(ig_item(message={"mid": "m_twice", "text": "once"}))
    assert post_webhook(body).status_code == 200
    assert post_webhook(body).status_code == 200
    jobs(("webhooks",))
    assert len(_messages()) == 1


def test_messenger_and_instagram_in_one_batch(post_webhook, jobs, ig_page):
    assert post_webhook(payload(item("7001", message={"mid": "m_fb", "text": "from Messenger"}))).status_code == 200
    assert (
        post_webhook(ig_payload(ig_item("7002", message={"mid": "m_ig", "text": "from Instagram"}))).status_code == 200
    )
    jobs(("webhooks",))
    channels = {psid: ch for psid, ch in db.session.execute(select(Contact.psid, Contact.channel))}
    assert channels == {"7001": "messenger", "7002": "instagram"}
    convs = [ch for _, ch in db.session.execute(select(Conversation.contact_id, Conversation.channel))]
    assert sorted(convs) == ["instagram", "messenger"]


def test_late_item_of_an_erased_igsid_is_discarded(ig_deliver, post_webhook, jobs, ig_page):
    ts = now_ms()
    ig_deliver(ig_item(ts=ts, message={"mid": "m_before", "text": "erase me"}))
    contact = db.session.scalar(select(Contact))
    contact.erased_at = utcnow()
    contact.psid = None
    db.session.query(Message).delete()
    db.session.commit()
    ig_deliver(ig_item(ts=ts + 1, message={"mid": "m_late_retry", "text": "erase me too"}))
    assert _messages() == []
    assert _count(Contact) == 1


def test_edit_of_an_unknown_message_creates_nothing(ig_deliver, deliver, ig_page):
    ig_deliver(ig_item("5551", message_edit={"mid": "m_unknown", "text": "edited", "num_edit": 1}))
    deliver(item("5552", message_edit={"mid": "m_unknown_fb", "text": "edited", "num_edit": 1}))
    assert _count(Contact) == 0
    assert [e.status for e in _events()] == [EventStatus.SKIPPED, EventStatus.SKIPPED]
