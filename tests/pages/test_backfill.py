"""Recovery of missed messages: in order, by mid, never twice, nothing sent, paced and resumable."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.core.queues import get_redis
from app.pages import backfill
from app.pages.exceptions import PageError
from tests.helpers import audit_actions

START = datetime(2026, 11, 1, 8, 0, 0)


def _epoch(dt: datetime) -> float:
    return (dt - datetime(1970, 1, 1)).total_seconds()


def _history(fakegraph, page, conversations: int = 3, messages: int = 4, start: datetime = START) -> int:
    return fakegraph.set_history(
        page.fb_page_id,
        generate={"conversations": conversations, "messages": messages, "start": _epoch(start), "step": 60},
    )


def _count(model=Message) -> int:
    return db.session.scalar(select(func.count(model.id)))


def test_backfill_inserts_in_order_marks_recovered_and_sends_nothing(channel, fakegraph):
    assert _history(fakegraph, channel, conversations=3, messages=4) == 12
    report = backfill.do_backfill(channel, START - timedelta(hours=1))
    assert report.inserted == 12
    assert report.known == 0
    assert [c.inserted for c in report.conversations] == [4, 4, 4]
    rows = db.session.scalars(select(Message).order_by(Message.id)).all()
    assert all(m.recovered for m in rows)
    assert _count(Conversation) == 3
    assert _count(Contact) == 3
    first = [m for m in rows if m.mid.startswith(f"m_hist_{channel.fb_page_id}_0_")]
    assert [m.mid for m in first] == [f"m_hist_{channel.fb_page_id}_0_{i}" for i in range(4)]  # oldest first
    assert [m.direction for m in first] == ["in", "out", "in", "out"]
    assert [m.status for m in first] == ["received", "sent", "received", "sent"]
    assert first[0].text == "history message 0 of conversation 0"
    assert not [r for r in fakegraph.requests_log if r["method"] == "POST"]  # nothing sent
    conv = db.session.get(Conversation, first[0].conversation_id)
    assert conv.unread_count == 2
    assert conv.last_message_at == first[-1].created_at
    assert "channel_backfill" in audit_actions("page")
    assert report.as_dict()["conversations"][0]["inserted"] == 4


def test_running_it_twice_adds_nothing(channel, fakegraph):
    _history(fakegraph, channel, conversations=2, messages=5)
    since = START - timedelta(minutes=5)
    assert backfill.do_backfill(channel, since).inserted == 10
    again = backfill.do_backfill(db.session.merge(channel), since)
    assert again.inserted == 0
    assert again.known == 10
    assert _count() == 10


def test_a_message_the_webhook_already_stored_is_not_duplicated(channel, fakegraph, conversation):
    _history(fakegraph, channel, conversations=1, messages=3)
    mid = f"m_hist_{channel.fb_page_id}_0_1"
    db.session.add(Message(conversation_id=conversation.id, mid=mid, direction="out", text="x", status="sent"))
    db.session.commit()
    report = backfill.do_backfill(channel, START - timedelta(minutes=5))
    assert (report.inserted, report.known) == (2, 1)
    assert db.session.scalar(select(func.count(Message.id)).where(Message.mid == mid)) == 1
    assert db.session.scalar(select(func.count(Message.id)).where(Message.recovered.is_(True))) == 2


def test_only_messages_since_the_start_are_recovered(channel, fakegraph):
    _history(fakegraph, channel, conversations=1, messages=10)  # one a minute from START
    report = backfill.do_backfill(channel, START + timedelta(minutes=6))
    assert report.inserted == 4
    created = db.session.scalars(select(Message.created_at).order_by(Message.created_at)).all()
    assert created[0] == START + timedelta(minutes=6)


def test_paging_of_conversations_and_of_long_threads(channel, fakegraph):
    _history(fakegraph, channel, conversations=30, messages=2)
    fakegraph.set_history(
        "other-page-unused", generate={"conversations": 1, "messages": 1, "start": _epoch(START)}
    )  # another page's history never leaks in
    assert backfill.do_backfill(channel, START - timedelta(minutes=1)).inserted == 60
    paths = [r["path"] for r in fakegraph.requests_log if r["path"].endswith("/conversations")]
    assert len(paths) == 2  # 25 + 5
    db.session.execute(Message.__table__.delete())
    db.session.commit()
    _history(fakegraph, channel, conversations=1, messages=250)  # 100 nested + 2 pages of the thread
    assert backfill.do_backfill(db.session.merge(channel), START - timedelta(minutes=1)).inserted == 250
    thread_calls = [r for r in fakegraph.requests_log if r["path"].startswith("/v22.0/t_")]
    assert len(thread_calls) == 2


def test_throttling_backs_off_and_continues(channel, fakegraph):
    _history(fakegraph, channel, conversations=1, messages=2)
    fakegraph.fail_next(613, count=2, message="(#613) Calls to this api have exceeded the rate limit.")
    report = backfill.do_backfill(channel, START - timedelta(minutes=1))
    assert report.inserted == 2
    assert report.calls == 3


def test_pacing_keeps_two_calls_a_second(channel, fakegraph, app, monkeypatch):
    monkeypatch.setitem(app.config, "CHANNEL_BACKFILL_RATE", 2)
    _history(fakegraph, channel, conversations=30, messages=1)  # 2 calls
    backfill.do_backfill(channel, START - timedelta(minutes=1))
    times = [r["time"] for r in fakegraph.requests_log if r["path"].endswith("/conversations")]
    assert len(times) == 2
    assert times[1] - times[0] >= 0.45


def test_pacing_counts_from_the_arrival_not_from_a_slow_send(channel, fakegraph, app, monkeypatch):
    """The flake behind the test above: the first call reached Meta late (a slow connect on a
    loaded machine) and the second, paced from the first one's *send*, arrived right after it."""
    monkeypatch.setitem(app.config, "CHANNEL_BACKFILL_RATE", 2)
    _history(fakegraph, channel, conversations=30, messages=1)
    slow_once = [0.6]  # the first request spends 0.6 s on the way, more than the 0.5 s interval
    send = requests.Session.send

    def late_send(self, request, **kwargs):
        if slow_once and request.url and "/conversations" in request.url:
            time.sleep(slow_once.pop())  # a slow network, not synchronisation
        return send(self, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", late_send)
    backfill.do_backfill(channel, START - timedelta(minutes=1))
    times = [r["time"] for r in fakegraph.requests_log if r["path"].endswith("/conversations")]
    assert len(times) == 2
    assert times[1] - times[0] >= 0.45


def test_a_refusal_is_a_page_error_and_releases_the_lock(channel, fakegraph):
    fakegraph.fail_next(100, count=1, message="(#100) Unsupported request")
    with pytest.raises(PageError, match="Conversations API refused the backfill"):
        backfill.do_backfill(channel, START)
    assert get_redis().get(backfill.LOCK_KEY.format(channel.id)) is None


def test_one_backfill_per_page_at_a_time(channel, fakegraph):
    get_redis().set(backfill.LOCK_KEY.format(channel.id), "1")
    with pytest.raises(PageError, match="already running"):
        backfill.do_backfill(channel, START)


def test_an_erased_persons_messages_are_not_recovered(channel, fakegraph):
    from app.core.crypto import keyed_hash  # noqa: PLC0415 - the erasure marker, only here

    _history(fakegraph, channel, conversations=1, messages=3)
    db.session.add(Contact(page_id=channel.id, psid=None, psid_hash=keyed_hash("9000000000"), erased_at=utcnow()))
    db.session.commit()
    assert backfill.do_backfill(channel, START - timedelta(minutes=1)).inserted == 0
    assert _count() == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-29", datetime(2026, 11, 29)),
        ("2026-11-29T08:00:00Z", datetime(2026, 11, 29, 8)),
        ("2026-11-29T10:00:00+02:00", datetime(2026, 11, 29, 8)),
    ],
)
def test_since_accepts_iso_dates(text, expected):
    assert backfill.parse_since(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "", "2999-01-01"])
def test_since_refuses_what_is_not_a_past_iso_date(text):
    with pytest.raises(PageError):
        backfill.parse_since(text)
