"""The Privacy Officers' daily digest: through the scheduler's job path and a real SMTP server,
once per day, nothing personal in the mail, notifications that open the request."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from app import db
from app.core.models import utcnow
from app.core.queues import enqueue
from app.core.schedule import get_job
from app.mail.models import MailMessage
from app.notifications.models import Notification
from app.privacy import digest, requests
from app.privacy.models import PrivacyRequest
from tests.helpers import csrf_token_from, run_jobs, uid

BASE = "http://127.0.0.1:5000"


def _request(contact, due_in_days: int, *, status: str = "pending", extended: bool = False, kind: str = "erasure"):
    req = requests.create_request(kind, contact)
    req.requester_email = "ada.lovelace@example.org"  # set afterwards: no "received" notice mail
    req.due_at = utcnow() + timedelta(days=due_in_days, hours=1)
    req.status = status
    if extended:
        req.extended_at = utcnow()
        req.extension_reason = "Ada Lovelace's archive is large"
    db.session.commit()
    return req


def _seed(contact) -> dict[str, PrivacyRequest]:
    return {
        "overdue": _request(contact, -3, status="approved"),
        "soon": _request(contact, 2, kind="access"),
        "extended": _request(contact, 7, extended=True, kind="marketing_opt_out"),
        "later": _request(contact, 8),
        "done_late": _request(contact, -5, status="complete"),
    }


def _run_scheduled(slot: int = 1) -> None:
    """As the scheduler does: `run_scheduled_job` on the job's queue, then the mail drain."""
    job = get_job("privacy_digest")
    enqueue("app.core.scheduler.run_scheduled_job", job.name, slot, queue=job.queue)
    assert run_jobs((job.queue,)) == 1
    run_jobs(("default",))


def _notifications(username: str) -> list[tuple[str, int]]:
    rows = db.session.execute(
        select(Notification.kind, Notification.privacy_request_id)
        .where(Notification.user_id == uid(username))
        .order_by(Notification.privacy_request_id)
    ).all()
    return [(k, r) for k, r in rows]


def test_the_digest_is_on_the_schedule():
    job = get_job("privacy_digest")
    assert (job.func, job.queue, job.cron) == ("app.privacy.tasks.privacy_digest", "privacy", "0 7 * * *")
    assert job.command == "flask omnicrm privacy digest"


def test_each_active_officer_gets_one_mail_listing_due_and_overdue_requests(smtp, contact):
    reqs = _seed(contact)
    _run_scheduled()
    assert sorted(m["To"] for m in smtp.messages) == ["privacy2@example.test", "privacy@example.test"]
    msg = smtp.messages[0]
    assert msg["Subject"] == "Privacy requests: 1 overdue, 2 due within 7 days"
    body = smtp.texts()[0]
    overdue, soon, extended = reqs["overdue"], reqs["soon"], reqs["extended"]
    assert (
        f"- #{overdue.id} erasure (approved): due {overdue.due_at.date().isoformat()}, overdue by 3 days. "
        f"{BASE}/privacyrequestmodelview/show/{overdue.id}"
    ) in body
    assert f"- #{soon.id} access (pending): due {soon.due_at.date().isoformat()}, 2 days left." in body
    assert f"- #{extended.id} marketing_opt_out (pending, extended): due {extended.due_at.date().isoformat()}" in body
    assert "7 days left" in body
    assert body.index("Overdue (1):") < body.index("Due within 7 days (2):")
    assert f"#{reqs['later'].id} " not in body
    assert f"#{reqs['done_late'].id} " not in body
    # no personal data: names, the requester's address, the contact's ids, the extension's words
    for personal in (
        "Ada",
        "Lovelace",
        "ada.lovelace@example.org",
        contact.psid,
        "archive",
        reqs["soon"].confirmation_code,
    ):
        assert personal not in body
        assert personal not in msg["Subject"]


def test_officers_are_notified_once_per_request_per_day(smtp, contact):
    reqs = _seed(contact)
    _run_scheduled(slot=1)
    expected = sorted(
        [
            ("privacy_overdue", reqs["overdue"].id),
            ("privacy_due", reqs["soon"].id),
            ("privacy_due", reqs["extended"].id),
        ],
        key=lambda kr: kr[1],
    )
    assert _notifications("privacy") == expected
    assert _notifications("privacy2") == expected
    assert _notifications("admin") == []
    assert _notifications("agent") == []
    assert _notifications("manager") == []
    # the same day again (a retry, Run now, the CLI): no second mail, no second notification
    _run_scheduled(slot=2)
    assert len(smtp.messages) == 2
    assert db.session.scalar(select(func.count()).select_from(MailMessage)) == 2
    assert _notifications("privacy") == expected
    # the next day (today's rows become yesterday's): again, once
    day = timedelta(days=1)
    for model in (Notification, MailMessage):
        db.session.execute(update(model).values(created_at=model.created_at - day))
    db.session.commit()
    result = digest.run_digest()
    assert (result.mails, result.notifications, result.due, result.overdue) == (2, 6, 2, 1)
    assert len(_notifications("privacy")) == 6
    assert digest.run_digest().line().endswith("0 mail(s) queued, 0 notification(s) added")


def test_nothing_due_sends_nothing(smtp, contact):
    _request(contact, 8)
    _request(contact, -1, status="denied")
    _run_scheduled()
    assert smtp.messages == []
    assert db.session.scalar(select(func.count()).select_from(MailMessage)) == 0
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 0


def test_inactive_officers_are_left_out(smtp, contact):
    _request(contact, 1)
    privacy2 = current_app.appbuilder.sm.find_user(username="privacy2")
    privacy2.active = False
    db.session.commit()
    _run_scheduled()
    assert [m["To"] for m in smtp.messages] == ["privacy@example.test"]
    assert _notifications("privacy2") == []


def test_the_bell_opens_the_request(login_as, smtp, contact):
    req = _request(contact, 3)
    digest.run_digest()
    client = login_as("privacy")
    html = client.get("/notifications/").get_data(as_text=True)
    assert "a privacy request is due soon" in html
    assert f"privacy request #{req.id}" in html
    assert "Notifications: 1 unread" in html
    [row] = db.session.scalars(select(Notification).where(Notification.user_id == uid("privacy"))).all()
    resp = client.post(f"/notifications/{row.id}/open", data={"csrf_token": csrf_token_from(html)})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/privacyrequestmodelview/show/{req.id}")
    assert client.get(resp.headers["Location"]).status_code == 200


def test_cli_runs_the_digest_now(app, smtp, contact):
    _request(contact, -2)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["omnicrm", "privacy", "digest"])
    assert result.exit_code == 0, result.output
    assert "privacy digest: 1 overdue, 0 due within 7 days; 2 mail(s) queued, 2 notification(s) added" in result.output
    result = runner.invoke(args=["omnicrm", "privacy", "digest"])
    assert "2 mail(s)" not in result.output
    assert "0 mail(s) queued, 0 notification(s) added" in result.output
    result = runner.invoke(args=["omnicrm", "jobs", "list"])
    assert [x for x in result.output.splitlines() if x.startswith("privacy_digest ")]


def test_due_today_before_and_after_the_due_time(contact):
    now = datetime(2026, 3, 10, 12, 0)
    past, later = _request(contact, 0), _request(contact, 0)
    past.due_at, later.due_at = now - timedelta(hours=1), now + timedelta(hours=1)
    db.session.commit()
    items = digest.due_items(now)
    assert [(i.id, i.overdue, i.days_left) for i in items] == [(past.id, True, 0), (later.id, False, 0)]
    subject, body = digest.render(items, now.date())
    assert subject == "Privacy requests: 1 overdue, 1 due within 7 days"
    assert f"#{past.id} erasure (pending): due 2026-03-10, overdue since today." in body
    assert f"#{later.id} erasure (pending): due 2026-03-10, due today." in body
