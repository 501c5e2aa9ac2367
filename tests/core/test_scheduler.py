"""The cron scheduler in-process: leader lock, one enqueue per slot, records, health, page, CLI."""

from __future__ import annotations

import logging
import time

import pytest
from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.core.queues import get_queue, get_redis
from app.core.schedule import SCHEDULE, get_job, jobs, parse_overrides
from app.core.scheduler import (
    LEADER_KEY,
    STATUS_KEY,
    CronStatus,
    Scheduler,
    job_key,
    job_states,
    record_restart,
    run_scheduled_job,
    scheduler_status,
)
from app.privacy import tasks
from config import ConfigError, build_config
from tests.helpers import csrf_token_from

SWEEP = get_job("sweep_pending_events")
RETENTION = get_job("run_retention")


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _pair(clock: Clock, schedule=(SWEEP,)) -> tuple[Scheduler, Scheduler]:
    conn = get_redis()
    return (
        Scheduler(conn, schedule, lock_seconds=5, ident="a", clock=clock),
        Scheduler(conn, schedule, lock_seconds=5, ident="b", clock=clock),
    )


def _cron_job_ids(queue: str) -> list[str]:
    return [j for j in get_queue(queue).job_ids if j.startswith("cron-")]


def test_only_the_leader_enqueues_and_each_slot_once():
    clock = Clock()
    a, b = _pair(clock)
    assert a.tick() == ["sweep_pending_events"]  # an interval job runs at once the first time
    assert b.tick() == []  # standby
    assert (a.leading, b.leading) == (True, False)
    assert a.tick() == []  # not due yet
    clock.now += 60
    assert b.tick() == []
    assert a.tick() == ["sweep_pending_events"]
    assert len(_cron_job_ids("webhooks")) == 2


def test_standby_takes_over_when_the_lock_runs_out():
    clock = Clock()
    a, b = _pair(clock)
    a.tick()
    get_redis().delete(LEADER_KEY)  # the leader died; its lock expired
    clock.now += 60
    assert b.tick() == ["sweep_pending_events"]  # continues the schedule the old leader kept
    assert a.tick() == []
    assert not a.leading


def test_two_leaders_still_enqueue_a_slot_once():
    """A paused leader whose lock expired may tick beside the new one: the slot key decides."""
    clock = Clock()
    a, b = _pair(clock)
    a.tick()
    clock.now += 60
    get_redis().hset(job_key("sweep_pending_events"), "next_run", clock.now)
    assert a._maybe_enqueue(SWEEP, clock.now) is True
    get_redis().hset(job_key("sweep_pending_events"), "next_run", clock.now)  # b read the old state
    assert b._maybe_enqueue(SWEEP, clock.now) is False
    assert len(_cron_job_ids("webhooks")) == 2


def test_cron_jobs_wait_for_their_time_and_catch_up_once_after_downtime():
    clock = Clock(1_800_000_000.0)  # 2027-01-15 08:00 UTC
    a, _ = _pair(clock, (RETENTION,))
    assert a.tick() == []  # 03:30 UTC is hours away
    next_run = float(get_redis().hget(job_key("run_retention"), "next_run"))
    assert time.gmtime(next_run)[3:5] == (3, 30)
    clock.now = next_run + 3 * 86400  # the scheduler was down for three days
    assert a.tick() == ["run_retention"]  # one catch-up run, not three
    assert a.tick() == []
    following = float(get_redis().hget(job_key("run_retention"), "next_run"))
    assert following > clock.now
    assert time.gmtime(following)[3:5] == (3, 30)


def test_run_records_success_and_is_idempotent_per_call(app):
    run_scheduled_job("flag_overdue", 123)
    [state] = [s for s in job_states(get_redis(), SCHEDULE) if s.job.name == "flag_overdue"]
    assert state.status == CronStatus.OK
    assert state.runs == 1
    assert state.failures == 0
    assert state.last_success is not None
    assert state.last_success >= state.last_start


def test_a_failing_job_is_recorded_logged_and_raised(app, monkeypatch, caplog):

    def broken():
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tasks, "flag_overdue", broken)
    with caplog.at_level(logging.ERROR), pytest.raises(RuntimeError):
        run_scheduled_job("flag_overdue", 7)
    [state] = [s for s in job_states(get_redis(), SCHEDULE) if s.job.name == "flag_overdue"]
    assert state.status == CronStatus.FAILING
    assert state.failures == 1
    assert state.last_error == "RuntimeError: disk on fire"
    record = next(r for r in caplog.records if "scheduled job flag_overdue failed" in r.getMessage())
    assert record.exc_info is not None  # the traceback is in the log


def test_overdue_after_twice_the_period_without_success():
    conn = get_redis()
    now = time.time()
    conn.hset(job_key("sweep_pending_events"), mapping={"first_scheduled": now - 100, "next_run": now - 40})
    [state] = job_states(conn, (SWEEP,), now)
    assert state.overdue is False
    assert state.status == CronStatus.WAITING
    [state] = job_states(conn, (SWEEP,), now + 30)  # 130 s > 2 × 60 s
    assert state.overdue is True
    assert state.status == CronStatus.LATE
    conn.hset(job_key("sweep_pending_events"), "last_success", now + 25)
    [state] = job_states(conn, (SWEEP,), now + 30)
    assert state.overdue is False
    assert state.status == CronStatus.OK


def test_scheduler_status_follows_the_heartbeat():
    conn = get_redis()
    assert scheduler_status(conn, 15).up is False
    assert "no scheduler has ever run" in scheduler_status(conn, 15).reason
    conn.hset(STATUS_KEY, mapping={"heartbeat": time.time() - 5, "leader": "host:1:abc"})
    assert scheduler_status(conn, 15).up is True
    down = scheduler_status(conn, 15, now=time.time() + 60)
    assert down.up is False
    assert "the scheduler is down" in down.reason


def test_overrides_are_validated():
    assert parse_overrides("sweep_pending_events=2, flag_overdue=5") == {"sweep_pending_events": 2, "flag_overdue": 5}
    assert [j.interval for j in jobs("run_retention=10") if j.name == "run_retention"] == [10]
    for bad in ("nope=3", "sweep_pending_events=0", "sweep_pending_events=x", "sweep_pending_events"):
        with pytest.raises(ValueError, match="CRON_OVERRIDES"):
            parse_overrides(bad)


def test_bad_overrides_stop_start_up(monkeypatch):

    monkeypatch.setenv("CRON_OVERRIDES", "sweep=1")
    with pytest.raises(ConfigError, match="CRON_OVERRIDES entry 'sweep=1'"):
        build_config()


# --------------------------------------------------------------------------- what people see


def test_health_endpoint_is_503_without_a_scheduler_and_200_with_one(client):
    resp = client.get("/healthz/scheduler")
    assert resp.status_code == 503
    assert resp.get_json()["scheduler"]["up"] is False
    now = time.time()
    get_redis().hset(STATUS_KEY, mapping={"heartbeat": now, "leader": "h:1:x"})
    resp = client.get("/healthz/scheduler")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["jobs"]["sweep_pending_events"]["status"] == "waiting"


def test_health_endpoint_is_503_when_a_job_is_overdue(client):
    now = time.time()
    get_redis().hset(STATUS_KEY, mapping={"heartbeat": now, "leader": "h:1:x"})
    get_redis().hset(job_key("sweep_pending_events"), mapping={"first_scheduled": now - 500, "next_run": now - 400})
    resp = client.get("/healthz/scheduler")
    assert resp.status_code == 503
    assert resp.get_json()["reason"] == "overdue: sweep_pending_events"


def test_metrics_export_scheduler_and_job_state(client):
    now = time.time()
    get_redis().hset(STATUS_KEY, mapping={"heartbeat": now, "leader": "h:1:x"})
    record_restart(get_redis(), -9)
    run_scheduled_job("flag_overdue", 1)
    body = client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_data(as_text=True)
    assert "\nomnicrm_scheduler_up 1\n" in body
    assert "\nomnicrm_scheduler_restarts_total 1\n" in body
    assert 'omnicrm_cron_failures_total{job="flag_overdue"} 0' in body
    assert 'omnicrm_cron_last_success_timestamp{job="sweep_pending_events"} 0' in body
    line = next(x for x in body.splitlines() if x.startswith('omnicrm_cron_last_success_timestamp{job="flag_overdue"}'))
    assert abs(float(line.split()[-1]) - time.time()) < 60  # full precision, not 1.8e+09


def test_queues_page_shows_jobs_and_a_dead_scheduler(login_as):
    client = login_as("admin")
    html = client.get("/admin/queues/").get_data(as_text=True)
    assert "Scheduler down." in html
    for job in SCHEDULE:
        assert f'data-job="{job.name}"' in html
    get_redis().hset(STATUS_KEY, mapping={"heartbeat": time.time(), "leader": "h:1:x"})
    record_restart(get_redis(), -9)
    html = client.get("/admin/queues/").get_data(as_text=True)
    assert "Scheduler running" in html
    assert "Scheduler down." not in html
    assert "died 1 time(s)" in html
    assert "exit code -9" in html


def test_run_now_queues_the_job_and_audits_it(login_as):
    client = login_as("admin")
    token = csrf_token_from(client.get("/admin/queues/").get_data(as_text=True))
    resp = client.post("/admin/queues/run-job", data={"csrf_token": token, "job": "reconcile_sending"})
    assert resp.status_code == 303
    assert [j for j in get_queue("outbound").job_ids if j.startswith("cron-reconcile_sending-manual-")]
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "scheduled_job_run")).one()
    assert row.actor_name == "admin"
    resp = client.post("/admin/queues/run-job", data={"csrf_token": token, "job": "rm -rf"}, follow_redirects=True)
    assert resp.status_code == 200
    assert "Not queued: no scheduled job named &#39;rm -rf&#39;" in resp.get_data(as_text=True)


@pytest.mark.parametrize("user", ["manager", "agent", "privacy"])
def test_run_now_is_admin_only(login_as, user):
    client = login_as(user)
    token = csrf_token_from(client.get("/resetmypassword/form").get_data(as_text=True))
    assert client.post("/admin/queues/run-job", data={"csrf_token": token, "job": "flag_overdue"}).status_code == 403
    assert get_queue("privacy").count == 0


def test_cli_lists_and_runs_jobs(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["omnicrm", "jobs", "run", "flag_overdue"])
    assert result.exit_code == 0, result.output
    assert "flag_overdue done: 0" in result.output
    result = runner.invoke(args=["omnicrm", "jobs", "list"])
    assert result.exit_code == 0, result.output
    assert "scheduler: DOWN" in result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("flag_overdue")]
    assert " ok " in line
    result = runner.invoke(args=["omnicrm", "jobs", "run", "sweep"])
    assert result.exit_code == 2
    assert "no scheduled job named 'sweep'; known jobs: sweep_pending_events" in result.output
    result = runner.invoke(args=["omnicrm", "jobs", "run", "reconcile_sending", "--enqueue"])
    assert result.exit_code == 0
    assert get_queue("outbound").count == 1


def test_cli_check_fails_while_the_scheduler_is_down(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["omnicrm", "jobs", "check"])
    assert result.exit_code == 1
    assert "scheduler unhealthy: no scheduler has ever run" in result.output
    get_redis().hset(STATUS_KEY, mapping={"heartbeat": time.time(), "leader": "h:1:x"})
    result = runner.invoke(args=["omnicrm", "jobs", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("scheduler ok: leader h:1:x, last beat")


def test_public_health_body_names_no_host_or_error(client):
    get_redis().hset(STATUS_KEY, mapping={"heartbeat": time.time(), "leader": "db-host-7:4242:abc"})
    get_redis().hset(
        job_key("flag_overdue"), mapping={"last_error": "OperationalError: password=hunter2", "last_error_at": 1}
    )
    body = client.get("/healthz/scheduler").get_data(as_text=True)
    assert "db-host-7" not in body
    assert "4242" not in body
    assert "hunter2" not in body
