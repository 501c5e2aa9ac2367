"""Admin queue monitor: depths, failed jobs with exception summary, CSRF-protected requeue."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.core.queues import enqueue, get_queue
from tests.helpers import csrf_token_from


def _failed_job(jobs, payload: str = "{not json"):
    job = enqueue("json.loads", payload, queue="outbound")
    jobs(("outbound",))
    assert get_queue("outbound").failed_job_registry.count >= 1
    return job


def test_admin_sees_depths_and_failed_jobs_without_args(login_as, jobs):
    job = _failed_job(jobs, "{secret-arg-123")
    enqueue("json.loads", "[]", queue="webhooks")  # waiting, not run
    html = login_as("admin").get("/admin/queues/").get_data(as_text=True)
    assert 'data-queue="webhooks"><td>webhooks</td><td class="queued">1<' in html
    assert f'data-job="{job.id}"' in html
    assert "JSONDecodeError" in html
    assert "json.loads" in html
    assert "secret-arg-123" not in html


@pytest.mark.parametrize("user", ["manager", "agent", "privacy"])
def test_other_roles_get_nothing(login_as, user):
    client = login_as(user)
    assert client.get("/admin/queues/").status_code == 403
    home = client.get("/").get_data(as_text=True)
    assert "/admin/queues/" not in home
    # a valid CSRF token from a form the user may open: the refusal is the permission's
    token = csrf_token_from(client.get("/resetmypassword/form").get_data(as_text=True))
    assert client.post("/admin/queues/requeue-all", data={"csrf_token": token}).status_code == 403


def test_admin_menu_has_queues(login_as):
    html = login_as("admin").get("/").get_data(as_text=True)
    assert 'href="/admin/queues/"' in html


def test_requeue_one_needs_csrf_and_moves_the_job(login_as, jobs):
    job = _failed_job(jobs)
    client = login_as("admin")
    page = client.get("/admin/queues/").get_data(as_text=True)
    token = csrf_token_from(page)

    refused = client.post("/admin/queues/requeue", data={"queue": "outbound", "job_id": job.id})
    assert refused.status_code == 400  # no CSRF token
    assert get_queue("outbound").failed_job_registry.count == 1

    resp = client.post("/admin/queues/requeue", data={"queue": "outbound", "job_id": job.id, "csrf_token": token})
    assert resp.status_code == 303
    q = get_queue("outbound")
    assert q.failed_job_registry.count == 0
    assert job.id in q.job_ids
    row = db.session.scalars(select(AuditLog).where(AuditLog.action == "job_requeue")).one()
    assert row.entity_id == job.id
    assert row.actor_name == "admin"


def test_requeue_bad_input_is_a_message_not_a_500(login_as, jobs):
    client = login_as("admin")
    token = csrf_token_from(client.get("/resetmypassword/form").get_data(as_text=True))
    for form in ({"queue": "nope", "job_id": "x"}, {"queue": "outbound", "job_id": "missing"}, {}):
        resp = client.post("/admin/queues/requeue", data={**form, "csrf_token": token}, follow_redirects=True)
        assert resp.status_code == 200
        assert "Not requeued" in resp.get_data(as_text=True)


def test_requeue_all(login_as, jobs):
    _failed_job(jobs)
    enqueue("json.loads", "{", queue="privacy")
    jobs(("privacy",))
    client = login_as("admin")
    token = csrf_token_from(client.get("/admin/queues/").get_data(as_text=True))
    resp = client.post("/admin/queues/requeue-all", data={"csrf_token": token}, follow_redirects=True)
    assert "2 failed job(s) requeued." in resp.get_data(as_text=True)
    assert get_queue("outbound").count == 1
    assert get_queue("privacy").count == 1
    assert get_queue("outbound").failed_job_registry.count == 0
