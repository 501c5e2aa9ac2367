"""Indexing through the real worker path, AND search, filters, paging, and the index following
its messages (agent replies, edits, unsend, erasure, retention)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from app import db
from app.contacts.models import Contact
from app.conversations import services as conversations
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.pages.models import Page
from app.privacy import retention
from app.privacy.erasure import erase_contact
from app.search import rebuild, services
from app.search.models import MessageSearchToken
from tests.webhooks.webhook_helpers import echo_item, item, now_ms, payload


def _search(text: str, **args: str) -> services.SearchResult:
    return services.do_search(services.check_query({"text": text, **args}))


def _tokens(message_id: int | None = None) -> int:
    stmt = select(func.count()).select_from(MessageSearchToken)
    if message_id is not None:
        stmt = stmt.where(MessageSearchToken.message_id == message_id)
    return int(db.session.scalar(stmt) or 0)


def _conv(page: Page, psid: str, name: str = "Grace") -> Conversation:
    contact = Contact(page=page, psid=psid, first_name=name, last_inbound_at=utcnow())
    conv = Conversation(page_id=page.id, contact=contact, status="open", last_message_at=utcnow())
    db.session.add(conv)
    db.session.commit()
    return conv


def _message(conv: Conversation, text: str | None, created=None) -> int:
    m = Message(conversation_id=conv.id, direction="in", text=text, status="received", created_at=created or utcnow())
    db.session.add(m)
    db.session.commit()
    return m.id


def test_webhook_messages_are_indexed_by_the_worker_not_the_request(page, post_webhook, jobs):
    ts = now_ms()
    resp = post_webhook(
        payload(
            item("555000111", ts, message={"mid": "m_1", "text": "Where is my parcel? Tracking says delayed"}),
            echo_item("555000111", ts + 1, mid="m_2", text="Your parcel ships tomorrow"),
        )
    )
    assert resp.status_code == 200
    assert _tokens() == 0  # the request only stored the raw event
    jobs(("webhooks",))
    inbound, echo = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert _tokens(inbound.id) == len(services.normalise(inbound.text)) == 5  # where, parcel, tracking, says, delayed
    assert _tokens(echo.id) == 3
    result = _search("PARCEL")
    assert result.count == 1
    [hit] = result.hits
    assert (hit.conversation_id, hit.message_id) == (inbound.conversation_id, echo.id)  # newest match
    assert [h.message_id for h in _search("parcel delayed").hits] == [inbound.id]


def test_tokens_carry_their_message_s_conversation_and_time(page, conversation, app):
    """The posting lists hold the conversation and the time (searches group by the one and
    filter dates by the other without reading `message`): written by the hook and by the
    backfill alike, and searches use them."""
    other = _conv(page, "777", "Ada")
    first = _message(conversation, "refund for the blue kettle", utcnow() - timedelta(days=40))
    second = _message(other, "kettle refund please")
    app.config["SEARCH_INDEXING"] = False
    third = _message(other, "blue kettle arrived")  # not indexed by the hook: the backfill does it
    app.config["SEARCH_INDEXING"] = True
    assert _tokens(third) == 0
    rebuild.do_run("backfill")
    rows = db.session.execute(
        select(
            MessageSearchToken.message_id,
            MessageSearchToken.conversation_id,
            Message.conversation_id,
            MessageSearchToken.created_at,
            Message.created_at,
        ).join(Message, Message.id == MessageSearchToken.message_id)
    ).all()
    assert {r.message_id for r in rows} == {first, second, third}
    assert all(r[1] == r[2] and r[3] == r[4] for r in rows)
    hits = _search("kettle refund").hits
    assert [(h.conversation_id, h.message_id) for h in hits] == [(other.id, second), (conversation.id, first)]
    assert [h.conversation_id for h in _search("blue kettle", page_id=str(page.id)).hits] == [other.id, conversation.id]
    month_ago = (utcnow() - timedelta(days=30)).date().isoformat()
    assert [h.message_id for h in _search("kettle refund", until=month_ago).hits] == [first]
    assert [h.message_id for h in _search("blue kettle", since=month_ago).hits] == [third]


def test_a_date_range_is_filtered_in_the_posting_lists_not_in_message():
    """The date range is a condition on every word's posting list (index-only scans): the
    statement never joins `message`, which made a one-month search of two common words slow."""
    query = services.check_query({"text": "parcel delayed", "since": "2025-06-01", "until": "2025-06-30"})
    sql = str(services._matches(query, b"k").compile())
    assert " message " not in sql.replace("\n", " ")
    assert "message." not in sql
    assert sql.count("created_at >=") == sql.count("created_at <") == 2  # on t0 and on t1


def test_all_words_must_match(page, conversation):
    both = _message(conversation, "the invoice is wrong")
    _message(conversation, "invoice received, thanks")
    other = _conv(page, "900")
    _message(other, "something is wrong")
    assert [h.message_id for h in _search("invoice wrong").hits] == [both]
    assert _search("invoice wrong missing").count == 0
    assert _search("wrong").count == 2  # two conversations
    assert _search("Invoice, WRONG!!").count == 1  # normalised like the messages


def test_one_row_per_conversation_newest_match_first_and_paging(page):
    convs = [_conv(page, f"80{i}", f"P{i}") for i in range(5)]
    ids = []
    for conv in convs:
        _message(conv, "refund please")
        ids.append(_message(conv, "still waiting for the refund"))
    first = _search("refund", page_size="2")
    assert first.count == 5
    assert [h.message_id for h in first.hits] == [ids[4], ids[3]]
    assert first.has_next
    last = _search("refund", page_size="2", page="2")
    assert [h.message_id for h in last.hits] == [ids[0]]
    assert not last.has_next
    assert _search("refund", page_size="2", page="9").hits == []


def test_filters_page_and_dates(page, conversation):
    other_page = Page(fb_page_id="222", name="Other")
    other_page.set_token("EAAother0000WXYZ")
    db.session.add(other_page)
    db.session.commit()
    elsewhere = _conv(other_page, "333")
    now = utcnow()
    old = _message(conversation, "broken screen", now - timedelta(days=10))
    new = _message(elsewhere, "broken screen again", now)
    assert _search("broken screen").count == 2
    assert [h.message_id for h in _search("broken screen", page_id=str(other_page.id)).hits] == [new]
    assert [h.message_id for h in _search("broken", page_id=str(page.id)).hits] == [old]
    day = (now - timedelta(days=10)).date().isoformat()
    assert [h.message_id for h in _search("broken", since=day, until=day).hits] == [old]
    assert [h.message_id for h in _search("broken", since=(now - timedelta(days=1)).date().isoformat()).hits] == [new]
    # both are Messenger conversations (the default channel; filtered once conversations carry one)
    assert _search("broken", channel="messenger").count == 2


def test_agent_reply_edit_unsend_and_delete_follow_the_message(page, conversation):
    reply = conversations.queue_reply(conversation, "Your voucher code is attached", author_id=None)
    db.session.commit()
    assert [h.message_id for h in _search("voucher").hits] == [reply.id]
    reply.text = "Your coupon is attached"  # an edit: the old words go, the new ones come
    db.session.commit()
    assert _search("voucher").count == 0
    assert _search("coupon").count == 1
    reply.text = None  # unsend: the text and its tokens go
    db.session.commit()
    assert _tokens(reply.id) == 0
    kept = _message(conversation, "coupon again")
    db.session.delete(db.session.get(Message, kept))
    db.session.commit()
    assert _tokens() == 0


def test_erasure_removes_the_tokens(page, contact, conversation):
    _message(conversation, "my private address is hidden")
    other = _conv(page, "444")
    kept = _message(other, "private matter")
    assert _tokens() > 0
    erase_contact(contact)
    assert _search("private").count == 1
    assert db.session.scalar(select(func.count(MessageSearchToken.message_id.distinct()))) == 1
    assert _tokens() == _tokens(kept)


def test_retention_removes_the_tokens(page, conversation):
    page.retention_days = 30
    db.session.commit()
    now = utcnow()
    old = _message(conversation, "ancient complaint", now - timedelta(days=31))
    new = _message(conversation, "recent complaint", now)
    retention.run_retention(now)
    assert _tokens(old) == 0
    assert [h.message_id for h in _search("complaint").hits] == [new]


def test_indexing_can_be_turned_off(app, conversation):
    app.config["SEARCH_INDEXING"] = False
    try:
        _message(conversation, "unindexed words")
    finally:
        app.config["SEARCH_INDEXING"] = True
    assert _tokens() == 0
