"""The outbound job against a real local fake Graph API: success, each error class, crash."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty

from app import db
from app.audit.models import AuditLog
from app.contacts.models import Contact
from app.conversations import services, tasks
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.core.queues import get_queue, get_redis


class ThreadWorker(SimpleWorker):
    """A real RQ worker that can run in a thread (no signal handlers, timer-based timeouts)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


def _sends(fakegraph) -> list[dict]:
    return [r for r in fakegraph.requests_log if r["method"] == "POST" and r["path"].endswith("/messages")]


def _reload(message: Message) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message.id)


def _run_scheduled_now() -> int:
    """Move every scheduled retry onto its queue now (what the RQ scheduler does when due)."""
    registry = get_queue("outbound").scheduled_job_registry
    ids = registry.get_job_ids()
    for job_id in ids:
        registry.requeue(job_id)
    return len(ids)


def test_send_marks_sent_with_mid_and_metadata(conversation, fakegraph, jobs):
    message = services.queue_reply(conversation, "Hello <b>Ada</b>")
    jobs(("outbound",))
    message = _reload(message)
    assert message.status == "sent"
    assert message.mid
    assert message.mid.startswith("m_")
    assert message.sent_at is not None
    assert message.attempts == 1
    [sent] = _sends(fakegraph)
    assert sent["path"] == f"/v25.0/{conversation.page.fb_page_id}/messages"
    assert sent["json"]["recipient"] == {"id": conversation.contact.psid}
    assert sent["json"]["messaging_type"] == "RESPONSE"
    assert sent["json"]["message"] == {"text": "Hello <b>Ada</b>", "metadata": f"omnicrm:{message.id}"}
    assert "appsecret_proof" in sent["query"]


def test_retryable_error_backs_off_then_fails(conversation, fakegraph, jobs):
    fakegraph.fail_next(613, count=10, message="Calls to this api have exceeded the rate limit.")
    message = services.queue_reply(conversation, "hello")
    jobs(("outbound",))
    message = _reload(message)
    assert message.status == "queued"
    assert message.attempts == 1
    assert message.next_attempt_at is not None
    delay = (message.next_attempt_at - message.send_started_at).total_seconds()
    assert 9 <= delay <= 11
    assert "retrying in 10 s" in message.error_message
    for attempt in range(2, 6):
        db.session.execute(db.update(Message).values(next_attempt_at=None))
        db.session.commit()
        assert _run_scheduled_now() == 1
        jobs(("outbound",))
        message = _reload(message)
        assert message.attempts == attempt
    assert message.status == "failed"
    assert message.error_code == "613"
    assert "after 5 attempts" in message.error_message
    assert _run_scheduled_now() == 0
    assert len(_sends(fakegraph)) == 5


def test_retryable_error_then_success(conversation, fakegraph, jobs):
    fakegraph.fail_next(None, http_status=503, raw_body="<html>bad gateway</html>")
    message = services.queue_reply(conversation, "hello")
    jobs(("outbound",))
    assert _reload(message).status == "queued"
    db.session.execute(db.update(Message).values(next_attempt_at=None))
    db.session.commit()
    _run_scheduled_now()
    jobs(("outbound",))
    message = _reload(message)
    assert message.status == "sent"
    assert message.attempts == 2
    assert message.error_message is None


def test_permanent_error_fails_at_once_with_reason(conversation, fakegraph, jobs):
    fakegraph.fail_next(551, message="This person isn't available right now.")
    message = services.queue_reply(conversation, "hello")
    jobs(("outbound",))
    message = _reload(message)
    assert message.status == "failed"
    assert message.error_code == "551"
    assert "isn't available right now" in message.error_message
    assert _run_scheduled_now() == 0
    assert len(_sends(fakegraph)) == 1


def test_token_expiry_marks_page_and_blocks_further_sends(conversation, fakegraph, jobs):
    fakegraph.fail_next(190, message="Error validating access token: Session has expired")
    first = services.queue_reply(conversation, "one")
    second = services.queue_reply(conversation, "two")
    jobs(("outbound",))
    first, second = _reload(first), _reload(second)
    assert conversation.page.needs_reauth is True
    assert (first.status, first.error_code) == ("failed", "190")
    assert (second.status, second.error_code) == ("failed", "page_needs_reauth")
    assert get_redis().scard(tasks.UNATTEMPTED_KEY) == 0  # nothing left for reconcile
    assert "replace the token" in second.error_message
    assert len(_sends(fakegraph)) == 1
    with pytest.raises(services.ReplyRefused, match="expired or was revoked"):
        services.queue_reply(conversation, "three")
    with pytest.raises(services.ReplyRefused):
        services.retry_message(first)
    # a new token lifts the block and the agent can retry
    conversation.page.set_token("EAAnewtoken5678ABCD")
    db.session.commit()
    services.retry_message(first)
    jobs(("outbound",))
    assert _reload(first).status == "sent"


def test_agent_retry_of_failed_message_requeues_it(conversation, fakegraph, jobs):
    fakegraph.fail_next(100, message="(#100) No matching user found")
    message = services.queue_reply(conversation, "hello")
    jobs(("outbound",))
    assert _reload(message).status == "failed"
    with pytest.raises(services.ReplyRefused, match="retrying cannot help"):  # permanent: no retry
        services.retry_message(_reload(message))
    message = _reload(message)
    message.error_code = "unknown_outcome"  # a failure retrying can help with
    db.session.commit()
    services.retry_message(_reload(message))
    assert _reload(message).status == "queued"
    jobs(("outbound",))
    message = _reload(message)
    assert message.status == "sent"
    assert message.error_code is None
    with pytest.raises(services.ReplyRefused, match="only a failed"):
        services.retry_message(message)


def test_replies_leave_in_order_with_two_workers(conversation, fakegraph, app):
    fakegraph.delay = 0.02
    texts = [f"part {i}" for i in range(12)]
    for text in texts:
        services.queue_reply(conversation, text)
    db.session.remove()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with app.app_context():
                worker = ThreadWorker([get_queue("outbound")], connection=get_redis())
                worker.work(burst=True, with_scheduler=False)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert [r["json"]["message"]["text"] for r in _sends(fakegraph)] == texts
    assert {m.status for m in db.session.query(Message)} == {"sent"}


def _second_conversation(page, psid: str = "7009998887"):

    contact = Contact(page=page, psid=psid, first_name="Grace", last_inbound_at=utcnow())
    conv = Conversation(page_id=page.id, contact=contact, status="open", last_inbound_at=contact.last_inbound_at)
    db.session.add_all([contact, conv])
    db.session.commit()
    return conv


def _age_sending(message: Message, minutes: int = 3) -> None:
    db.session.execute(
        db.update(Message)
        .where(Message.id == message.id)
        .values(send_started_at=_reload(message).send_started_at - timedelta(minutes=minutes))
    )
    db.session.commit()


def _crash_in(monkeypatch, step: str) -> None:
    """Run a drain job whose worker is killed when it reaches `step`."""

    def worker_dies(*args, **kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(tasks, step, worker_dies)
    with pytest.raises(SystemExit):
        tasks.send_message()
    monkeypatch.undo()


def test_crash_between_send_and_commit_is_reconciled_not_resent(conversation, fakegraph, jobs, monkeypatch):
    message = services.queue_reply(conversation, "hello")

    _crash_in(monkeypatch, "_flush_sent")
    assert _reload(message).status == "sending"
    assert len(_sends(fakegraph)) == 1
    # the later reply must not overtake the unknown one
    later = services.queue_reply(conversation, "after the crash")
    get_redis().delete(tasks.DRAIN_FLAG)
    assert tasks.send_message() == "sent 0, not sent 0"
    assert _reload(later).status == "queued"
    # not stuck long enough yet: left alone
    assert tasks.reconcile_sending()["stuck"] == 0
    _age_sending(message)
    assert tasks.reconcile_sending() == {"stuck": 1, "requeued": 0, "kicked": 1}
    message = _reload(message)
    assert (message.status, message.error_code) == ("failed", "unknown_outcome")
    assert "check the conversation in Messenger before retrying" in message.error_message
    jobs(("outbound",))
    assert _reload(later).status == "sent"
    texts = [r["json"]["message"]["text"] for r in _sends(fakegraph)]
    assert texts == ["hello", "after the crash"]


def test_crash_before_the_graph_call_is_requeued_and_sent_once(conversation, fakegraph, jobs, monkeypatch):
    first = services.queue_reply(conversation, "one")
    second = services.queue_reply(conversation, "two")

    # both claimed ("sending"), the worker dies before its first Graph call
    _crash_in(monkeypatch, "_send_batch")
    assert {_reload(first).status, _reload(second).status} == {"sending"}
    assert _sends(fakegraph) == []
    _age_sending(first)
    _age_sending(second)
    # provably never attempted: queued again, not handed to the agent
    assert tasks.reconcile_sending() == {"stuck": 0, "requeued": 2, "kicked": 2}
    assert (_reload(first).status, _reload(first).attempts) == ("queued", 0)
    jobs(("outbound",))
    assert [_reload(first).status, _reload(second).status] == ["sent", "sent"]
    assert [r["json"]["message"]["text"] for r in _sends(fakegraph)] == ["one", "two"]


def test_burst_shares_one_drain_job_and_commits_in_groups(conversation, fakegraph, jobs):

    for i in range(30):
        services.queue_reply(conversation, f"part {i}")
    assert get_queue("outbound").count == 1
    assert jobs(("outbound",)) == 1
    assert [r["json"]["message"]["text"] for r in _sends(fakegraph)] == [f"part {i}" for i in range(30)]
    assert {m.status for m in db.session.query(Message)} == {"sent"}
    assert db.session.query(AuditLog).filter_by(action="reply_sent").count() == 30
    assert get_redis().scard(tasks.UNATTEMPTED_KEY) == 0


def test_full_batch_calls_another_worker_in(conversation, fakegraph, jobs, monkeypatch):
    monkeypatch.setattr(tasks, "CLAIM_BATCH", 5)
    for i in range(12):
        services.queue_reply(conversation, f"part {i}")
    # one conversation: the first claim takes its 5 oldest, a second job joins for the rest
    assert jobs(("outbound",)) >= 2
    assert [r["json"]["message"]["text"] for r in _sends(fakegraph)] == [f"part {i}" for i in range(12)]


def test_retry_in_a_batch_holds_that_conversation_only(conversation, fakegraph, jobs):
    other = _second_conversation(conversation.page)
    fakegraph.fail_next(2, message="Temporary issue")
    a1 = services.queue_reply(conversation, "a1")
    a2 = services.queue_reply(conversation, "a2")
    b1 = services.queue_reply(other, "b1")
    jobs(("outbound",))
    a1, a2, b1 = _reload(a1), _reload(a2), _reload(b1)
    assert (a1.status, a1.attempts) == ("queued", 1)
    assert a1.next_attempt_at is not None
    # released unsent, behind a1's retry
    assert (a2.status, a2.attempts, a2.send_started_at) == ("queued", 0, None)
    assert b1.status == "sent"
    assert [r["json"]["message"]["text"] for r in _sends(fakegraph)] == ["a1", "b1"]
    assert _run_scheduled_now() == 1
    jobs(("outbound",))
    assert [_reload(a1).status, _reload(a2).status] == ["sent", "sent"]
    assert [r["json"]["message"]["text"] for r in _sends(fakegraph)][2:] == ["a1", "a2"]


def test_refused_reply_in_a_batch_fails_with_reason(conversation, fakegraph, jobs):
    message = services.queue_reply(conversation, "hello")
    conversation.contact.restricted = True
    db.session.commit()
    jobs(("outbound",))
    message = _reload(message)
    assert (message.status, message.error_code) == ("failed", "refused")
    assert "restricted" in message.error_message
    assert _sends(fakegraph) == []
    assert get_redis().scard(tasks.UNATTEMPTED_KEY) == 0


def test_reconcile_leaves_echoed_message_alone(conversation, fakegraph):
    message = services.queue_reply(conversation, "hello")
    db.session.execute(
        db.update(Message)
        .where(Message.id == message.id)
        .values(status="sent", mid="m_echo", send_started_at=message.created_at - timedelta(minutes=10))
    )
    db.session.commit()
    get_redis().flushdb()
    assert tasks.reconcile_sending()["stuck"] == 0
    assert _reload(message).status == "sent"
