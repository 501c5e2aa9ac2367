"""The scheduler as shipped: `python worker.py` processes against the suite's database and Redis.

These start real processes (as the README, `make run` and the compose roles do) with short
intervals (`CRON_OVERRIDES`), and watch scheduled work happen, a killed scheduler get noticed
and restarted, and two schedulers share the work without doubling it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app import db
from app.conversations.models import Message
from app.core.queues import get_queue, get_redis
from app.core.scheduler import STATUS_KEY, scheduler_status
from app.webhooks.models import WebhookEvent
from tests.helpers import redis_unreachable
from tests.webhooks.webhook_helpers import item, payload, sign256

ROOT = Path(__file__).resolve().parents[2]
LOCK = 2  # SCHEDULER_LOCK_SECONDS for these processes: a dead leader is replaced within 2 s


def _wait(what: str, check: Callable[[], object], timeout: float = 40.0, *logs: Proc) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.log.name}:\n" + "\n".join(p.text().splitlines()[-40:]) for p in logs)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


class Proc:
    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        self.handle = log.open("ab")  # O_APPEND: parent and child share the file
        self.popen = subprocess.Popen(
            [sys.executable, "worker.py", *args],
            cwd=ROOT,
            env=env,
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: see reap()
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.handle.close()

    def reap(self) -> None:
        """SIGKILL what is left of the process group: a worker killed mid-job orphans RQ's work
        horse, which would keep its transaction open and block the next test's TRUNCATE."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def start(tmp_path) -> Iterator[Callable[..., Proc]]:
    procs: list[Proc] = []
    env = dict(os.environ)
    env.update(
        {
            "CRON_OVERRIDES": "sweep_pending_events=2,flag_overdue=1",
            "SCHEDULER_LOCK_SECONDS": str(LOCK),
            "WEBHOOK_SWEEP_AFTER_SECONDS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )

    def _start(*args: str, name: str = "worker") -> Proc:
        proc = Proc(list(args), tmp_path / f"{name}-{len(procs)}.log", env)
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        proc.stop()
    # a scheduler child of a killed worker stops by itself once it sees its parent gone
    _wait("scheduler children to stop", lambda: not _scheduler_pids(), timeout=15)
    for proc in procs:
        proc.reap()


def _scheduler_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"{ROOT / 'worker.py'} --cron-only"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def _leader_pid() -> int | None:
    leader = get_redis().hget(STATUS_KEY, "leader")
    return int(leader.decode().split(":")[1]) if leader else None


def _pending_event_without_job(app, post_webhook) -> None:
    """Meta's POST is acknowledged while Redis is down: the event is stored, no job exists."""
    with redis_unreachable(app):
        resp = post_webhook(payload(item(message={"mid": "m_sweep", "text": "sent while redis was down"})))
        assert resp.status_code == 200
    assert get_queue("webhooks").count == 0
    db.session.rollback()


def _event_status() -> str:
    db.session.rollback()
    return db.session.scalar(select(WebhookEvent.status))


@pytest.fixture
def post_webhook(app, client):

    def _post(data: dict):
        body = json.dumps(data).encode()
        sig = sign256(body, app.config["FB_APP_SECRET"])
        return client.post("/webhooks/messenger", data=body, headers={"X-Hub-Signature-256": sig})

    return _post


def test_worker_as_shipped_sweeps_a_pending_event(app, page, post_webhook, start):
    _pending_event_without_job(app, post_webhook)
    assert _event_status() == "pending"
    worker = start()
    started = lambda: "scheduler process started" in worker.text()  # noqa: E731
    _wait("the scheduler's start in the worker's output", started, 40, worker)
    _wait("the sweeper to apply the event", lambda: _event_status() == "processed", 40, worker)
    assert db.session.scalar(select(func.count(Message.id))) == 1
    log = worker.text()
    assert re.search(r"scheduler enqueued sweep_pending_events \(slot \d+\) on queue webhooks", log)
    assert "sweeper queued 1 pending webhook event(s)" in log
    assert "Traceback" not in log


def test_a_killed_scheduler_is_noticed_restarted_and_visible(app, client, start, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_LOCK_SECONDS", LOCK)  # web and workers share the setting
    worker = start()
    first = _wait("a scheduler leader", _leader_pid)
    assert isinstance(first, int)
    os.kill(first, signal.SIGKILL)
    _wait("the worker to notice", lambda: f"scheduler process {first} died (exit code -9)" in worker.text(), 40, worker)
    assert int(get_redis().hget(STATUS_KEY, "restarts")) == 1
    metrics = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "\nomnicrm_scheduler_restarts_total 1\n" in metrics
    second = _wait("a new leader", lambda: (pid := _leader_pid()) != first and pid)
    assert second != first
    _wait("the health endpoint to be green again", lambda: client.get("/healthz/scheduler").status_code == 200)

    # now the whole worker dies: nothing restarts the scheduler, and every screen says so
    worker.popen.kill()
    worker.popen.wait()
    _wait("the orphaned scheduler to stop", lambda: not _scheduler_pids(), timeout=15)
    _wait("the health endpoint to turn red", lambda: client.get("/healthz/scheduler").status_code == 503, timeout=15)
    assert scheduler_status(get_redis(), LOCK).up is False
    metrics = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "\nomnicrm_scheduler_up 0\n" in metrics


def test_two_schedulers_run_each_job_once_and_take_over(start):
    a = start("--cron-only", name="a")
    b = start("--cron-only", name="b")
    leader = _wait("a leader", _leader_pid)
    time.sleep(4)
    first, second = (a, b) if a.popen.pid == leader else (b, a)
    first.popen.kill()
    first.popen.wait()
    _wait("the standby to take over", lambda: "is now the leader" in second.text(), timeout=10)
    before = len(re.findall(r"enqueued flag_overdue", second.text()))
    _wait("the new leader to enqueue", lambda: len(re.findall(r"enqueued flag_overdue", second.text())) > before + 1)
    slots = re.findall(r"scheduler enqueued flag_overdue \(slot (\d+)\)", a.text() + b.text())
    assert len(slots) >= 5
    assert len(slots) == len(set(slots)), "a slot was enqueued twice"
    assert "is now the leader" in first.text()  # each process led at some point
