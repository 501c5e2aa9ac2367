"""Backlog handling: one job applies a batch, several workers stay correct on one conversation."""

from __future__ import annotations

import json
import threading

from sqlalchemy import func, select, text

from app import db
from app.conversations.models import Conversation, Message
from app.core import counters
from app.core.queues import get_queue, get_redis
from app.webhooks import batch, signals
from app.webhooks.models import EventStatus, WebhookEvent
from tests.webhooks.webhook_helpers import item, now_ms, payload, sign256


def _statuses() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(WebhookEvent.status).order_by(WebhookEvent.id)))


def test_a_burst_shares_one_drain_job(post_webhook, page, jobs):
    t = now_ms()
    for i in range(30):
        psid = str(900 + i % 3)
        assert post_webhook(payload(item(psid, t + i, message={"mid": f"m_b{i}", "text": f"n{i}"}))).status_code == 200
    assert get_queue("webhooks").count == 1
    jobs(("webhooks",))
    assert _statuses() == [EventStatus.PROCESSED] * 30
    assert db.session.scalar(select(func.count(Message.id))) == 30
    assert sorted(db.session.scalars(select(Conversation.unread_count))) == [10, 10, 10]
    # the flag was cleared by the drain: the next event queues a new drain job
    assert post_webhook(payload(item(ts=t + 99, message={"mid": "m_next", "text": "next"}))).status_code == 200
    assert get_queue("webhooks").count == 1
    jobs(("webhooks",))
    assert _statuses()[-1] == EventStatus.PROCESSED


def test_a_batch_drops_the_own_jobs_of_events_it_applied(post_webhook, page, jobs):

    t = now_ms()
    for i in range(6):
        assert post_webhook(payload(item(ts=t + i, message={"mid": f"m_o{i}", "text": f"o{i}"}))).status_code == 200
    get_redis().delete(signals.DRAIN_FLAG)
    get_queue("webhooks").empty()
    ids = list(db.session.scalars(select(WebhookEvent.id).order_by(WebhookEvent.id)))
    for event_id in ids:  # as the sweeper would
        assert signals.enqueue_event(event_id)
    assert get_queue("webhooks").count == 6
    jobs(("webhooks",), max_jobs=1)
    assert _statuses() == [EventStatus.PROCESSED] * 6
    assert get_queue("webhooks").count == 0  # the other 5 jobs were no longer needed


def test_a_poison_event_does_not_block_the_batch(post_webhook, page, jobs):
    t = now_ms()
    for i in range(5):
        assert post_webhook(payload(item(ts=t + i, message={"mid": f"m_p{i}", "text": f"p{i}"}))).status_code == 200
    db.session.execute(
        text("UPDATE webhook_event SET payload = 'garbage' WHERE id = (SELECT min(id) + 2 FROM webhook_event)")
    )
    db.session.commit()
    assert batch.drain_pending() == 4
    statuses = _statuses()
    assert statuses.count(EventStatus.PROCESSED) == 4
    assert statuses[2] == EventStatus.PENDING
    event = db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id).offset(2)).first()
    assert event.attempts == 1
    assert "DecryptionError" in event.error
    assert db.session.scalar(select(func.count(Message.id))) == 4


def test_parallel_workers_on_one_conversation_lose_nothing(app, post_webhook, page):
    t = now_ms()
    for i in range(24):
        body = payload(item(ts=t + i, message={"mid": f"m_c{i}", "text": f"c{i}"}))
        assert post_webhook(json.dumps(body).encode()).status_code == 200
    ids = list(db.session.scalars(select(WebhookEvent.id).order_by(WebhookEvent.id)))
    db.session.rollback()
    errors: list[BaseException] = []

    def worker(chunk: list[int]) -> None:
        with app.app_context():
            try:
                for event_id in chunk:
                    batch.process_event(event_id)
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(ids[k::4],)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    assert _statuses() == [EventStatus.PROCESSED] * 24
    conv = db.session.scalar(select(Conversation))
    assert conv.unread_count == 24  # no lost update: the conversation row is locked per event
    msgs = list(db.session.scalars(select(Message).order_by(Message.created_at)))
    assert [m.text for m in msgs] == [f"c{i}" for i in range(24)]
    assert conv.last_message_at == msgs[-1].created_at


def test_concurrent_posts_are_signalled_together_and_counted(app, page, jobs):
    """Requests hand their drain signal to one background thread: 20 posts, one drain job."""

    get_redis().delete(counters.WEBHOOK_RECEIVED_KEY)
    t = now_ms()
    bodies = [
        json.dumps(payload(item(ts=t + i, message={"mid": f"m_c{i}", "text": f"c{i}"}))).encode() for i in range(20)
    ]
    codes: list[int] = []

    def post(body: bytes) -> None:
        resp = app.test_client().post(
            "/webhooks/messenger",
            data=body,
            headers={"X-Hub-Signature-256": sign256(body, app.config["FB_APP_SECRET"])},
        )
        codes.append(resp.status_code)

    threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert codes == [200] * 20
    assert signals.flush_signals()
    assert int(get_redis().get(counters.WEBHOOK_RECEIVED_KEY)) == 20
    assert get_queue("webhooks").count == 1
    jobs(("webhooks",))
    assert _statuses() == [EventStatus.PROCESSED] * 20
