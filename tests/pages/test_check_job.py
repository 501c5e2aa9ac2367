"""The daily check and the backfill run as jobs: through the worker path and the shipped scheduler."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from app import db
from app.conversations.models import Message
from app.core.queues import enqueue
from app.core.schedule import get_job
from app.pages import health
from app.pages.models import Page
from tests.helpers import run_jobs

ROOT = Path(__file__).resolve().parents[2]


def _status(page_id: int) -> str | None:
    db.session.rollback()
    db.session.expire_all()
    return db.session.scalar(select(Page.health_status).where(Page.id == page_id))


def test_the_check_is_on_the_schedule():
    job = get_job("check_channels")
    assert job.func == "app.pages.tasks.check_channels"
    assert job.cron == "45 4 * * *"
    assert job.command == "flask omnicrm channels check"


def test_check_job_through_the_worker_path(channel, fakegraph):
    enqueue("app.pages.tasks.check_channels", queue="default")
    assert run_jobs(("default",)) == 1
    assert _status(channel.id) == "ok"


def test_failing_to_ok_recovers_the_gap_through_the_worker(channel, fakegraph):
    fakegraph.set_subscription(channel.fb_page_id, None)
    health.do_check_page(channel)
    fakegraph.set_history(channel.fb_page_id, generate={"conversations": 2, "messages": 2, "start": time.time() - 60})
    fakegraph.set_subscription(channel.fb_page_id, ["messages", *health.SUBSCRIBED_FIELDS[1:]])
    enqueue("app.pages.tasks.check_channels", queue="default")
    assert run_jobs(("default",)) == 2  # the check, then the backfill it queued
    assert _status(channel.id) == "ok"
    assert db.session.scalar(select(func.count(Message.id)).where(Message.recovered.is_(True))) == 4


def test_the_shipped_worker_runs_the_check_on_schedule(app, channel, fakegraph, tmp_path):
    env = dict(os.environ)
    env.update(
        {
            "CRON_OVERRIDES": "check_channels=1",
            "GRAPH_API_BASE": fakegraph.base_url,
            "GRAPH_API_VERSION": "v22.0",
            "SCHEDULER_LOCK_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
        }
    )
    log = tmp_path / "worker.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _status(channel.id) is None:
            time.sleep(0.25)
        text = log.read_text(errors="replace")
        assert _status(channel.id) == "ok", text[-3000:]
        assert "scheduler enqueued check_channels" in text
        assert any(r["path"] == "/v22.0/debug_token" for r in fakegraph.requests_log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
