"""The schedule: every periodic job in one place, so operators see the whole plan.

Jobs are named by dotted path (enqueued as strings), so this foundation module imports no
domain. `CRON_OVERRIDES` (`name=seconds,...`) turns a job into a plain interval, for tests
and for operators who want a job more (or less) often than shipped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

from croniter import croniter  # type: ignore[import-untyped]  # croniter ships no type hints


@dataclass(frozen=True)
class ScheduledJob:
    """One periodic job. Exactly one of `interval` (seconds) and `cron` (UTC) is set."""

    name: str
    func: str
    queue: str
    interval: int | None = None
    cron: str | None = None
    command: str = ""
    what: str = ""
    if_late: str = ""

    @property
    def schedule_text(self) -> str:
        if self.interval is not None:
            return f"every {self.interval} s"
        return f"cron '{self.cron}' (UTC)"

    def period(self) -> float:
        """Seconds between two runs (for cron: the gap after the next run)."""
        if self.interval is not None:
            return float(self.interval)
        it = croniter(self.cron, datetime.now(UTC))
        first = it.get_next(float)
        return float(it.get_next(float) - first)

    def next_after(self, ts: float) -> float:
        """The first run time strictly after `ts` (epoch seconds)."""
        if self.interval is not None:
            return ts + self.interval
        return float(croniter(self.cron, datetime.fromtimestamp(ts, UTC)).get_next(float))


SCHEDULE: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        "sweep_pending_events",
        "app.webhooks.tasks.sweep_pending_events",
        "webhooks",
        interval=60,
        command="flask omnicrm jobs run sweep_pending_events",
        what="queues webhook events left pending (stored while Redis was down, or their job was lost)",
        if_late="acknowledged events wait unprocessed; nothing is lost, they are applied on the next sweep",
    ),
    ScheduledJob(
        "reconcile_sending",
        "app.conversations.tasks.reconcile_sending",
        "outbound",
        interval=300,
        command="flask omnicrm jobs run reconcile_sending",
        what="re-queues replies a killed worker provably never sent; shows the others to the agent",
        if_late="such replies stay 'sending' until it runs",
    ),
    ScheduledJob(
        "run_retention",
        "app.privacy.tasks.run_retention",
        "privacy",
        cron="30 3 * * *",
        command="flask omnicrm retention run",
        what="deletes messages, raw events and accounts past their retention (privacy policy §8)",
        if_late="data is kept longer than the policy promises: run it by hand",
    ),
    ScheduledJob(
        "flag_overdue",
        "app.privacy.tasks.flag_overdue",
        "privacy",
        cron="0 * * * *",
        command="flask omnicrm jobs run flag_overdue",
        what="marks privacy requests past their due date as overdue",
        if_late="the overdue filter and the metric lag behind",
    ),
    ScheduledJob(
        "purge_expired_exports",
        "app.privacy.tasks.purge_expired_exports",
        "privacy",
        cron="15 * * * *",
        command="flask omnicrm jobs run purge_expired_exports",
        what="deletes access-request exports whose 7-day link expired",
        if_late="expired export files stay on disk (encrypted) until it runs",
    ),
    ScheduledJob(
        "privacy_digest",
        "app.privacy.tasks.privacy_digest",
        "privacy",
        cron="0 7 * * *",
        command="flask omnicrm privacy digest",
        what="mails each Privacy Officer the requests due within 7 days and overdue, and notifies them in-app",
        if_late="officers hear of due requests later (the list's colours still show them): run it by hand",
    ),
    ScheduledJob(
        "verify_audit_chain",
        "app.audit.tasks.verify_chain_job",
        "default",
        cron="0 * * * *",
        command="flask omnicrm audit verify",
        what="checks the audit log's hash chain and logs an error on the first broken row",
        if_late="tampering is noticed later",
    ),
    ScheduledJob(
        "send_mail",
        "app.mail.tasks.send_pending",
        "default",
        interval=60,
        command="flask omnicrm jobs run send_mail",
        what="sends queued mail (retries with backoff; picks up mail queued while Redis was down)",
        if_late="notices and verification codes wait in Admin -> Outbox as 'queued'",
    ),
    ScheduledJob(
        "sweep_pending_media",
        "app.media.tasks.sweep_pending_media",
        "default",
        interval=300,
        command="flask omnicrm jobs run sweep_pending_media",
        what="queues inbound attachment fetches whose job was lost; gives up on links past Meta's expiry",
        if_late="attachments show as 'not stored yet' until it runs; after two days their links expire",
    ),
    ScheduledJob(
        "sweep_orphan_media",
        "app.media.tasks.sweep_orphan_media",
        "default",
        cron="30 3 * * *",
        command="flask omnicrm jobs run sweep_orphan_media",
        what="removes stored attachment files that no row names (left by a crash between writing and committing)",
        if_late="such files stay on disk, encrypted and unreachable, until it runs",
    ),
    ScheduledJob(
        "check_channels",
        "app.pages.tasks.check_channels",
        "default",
        cron="45 4 * * *",
        command="flask omnicrm channels check",
        what="checks every page's token, permissions, webhook subscription, API version and freshness",
        if_late="a broken channel (expired token, lost subscription) is noticed later: run it by hand",
    ),
)


class UnknownJobError(LookupError):
    """A job name that is not in the schedule (shown to the operator with the known names)."""


def parse_overrides(value: str) -> dict[str, int]:
    """`name=seconds,...` → {name: seconds}; a malformed entry is a start-up error, not a guess."""
    out: dict[str, int] = {}
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, _, seconds = part.partition("=")
        if name.strip() not in {j.name for j in SCHEDULE} or not seconds.strip().isdigit() or int(seconds) < 1:
            raise ValueError(f"CRON_OVERRIDES entry {part!r} is not NAME=SECONDS with a job of the schedule")
        out[name.strip()] = int(seconds)
    return out


def jobs(overrides: str = "") -> tuple[ScheduledJob, ...]:
    """The schedule with `CRON_OVERRIDES` applied."""
    intervals = parse_overrides(overrides)
    return tuple(replace(j, interval=intervals[j.name], cron=None) if j.name in intervals else j for j in SCHEDULE)


def get_job(name: str, overrides: str = "") -> ScheduledJob:
    for job in jobs(overrides):
        if job.name == name:
            return job
    known = ", ".join(j.name for j in SCHEDULE)
    raise UnknownJobError(f"no scheduled job named {name!r}; known jobs: {known}")
