"""Audit grid, CSV export, record history, API and the chain-broken alert."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select, text

from app import db
from app.audit import service
from app.audit.models import AuditLog
from app.audit.tasks import verify_chain_job
from app.audit.verify import verify_chain
from app.audit.views import csv_cell
from app.core.context import Actor, acting_as
from app.core.queues import enqueue


def seed() -> None:
    with acting_as(Actor(1, "admin", "10.0.0.1", "ua")):
        service.record("test_event", "contact", 11, {"tags": '=HYPERLINK("http://evil")'})
        service.record("other_event", "page", 12)
        db.session.commit()


def actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.id)))


def test_grid_is_for_admins_and_privacy_officers_only(client, login_as):
    seed()
    for user, status in (("admin", 200), ("privacy", 200)):
        login_as(user)
        resp = client.get("/auditlogmodelview/list/")
        assert resp.status_code == status
        assert "Test event" in resp.get_data(as_text=True)
        client.get("/logout/")
    for user in ("agent", "manager"):
        login_as(user)
        assert client.get("/auditlogmodelview/list/").status_code == 403
        assert client.get("/auditlogmodelview/export/").status_code == 403
        client.get("/logout/")


def test_grid_is_read_only(client, login_as):
    seed()
    login_as("admin")
    row_id = db.session.scalars(select(AuditLog.id)).first()
    assert client.get("/auditlogmodelview/add").status_code == 403
    assert client.get(f"/auditlogmodelview/edit/{row_id}").status_code == 403
    assert client.get(f"/auditlogmodelview/delete/{row_id}").status_code == 403
    assert db.session.get(AuditLog, row_id) is not None
    assert verify_chain().ok


def test_export_is_filtered_guarded_and_audited(client, login_as):
    seed()
    login_as("privacy")
    resp = client.get("/auditlogmodelview/export/?_flt_3_action=test_event")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    data = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert data[0][:5] == ["id", "created_at", "actor_id", "actor_name", "action"]
    assert [r[4] for r in data[1:]] == ["test_event"]
    changes = data[1][7]
    assert changes.startswith('{"tags": "=HYPERLINK')  # JSON cell: no leading formula char
    [exported] = db.session.scalars(select(AuditLog).where(AuditLog.action == "audit_exported")).all()
    assert exported.actor_name == "privacy"
    assert exported.changes["rows"] == 1
    assert exported.changes["filters"] == {"_flt_3_action": "test_event"}
    assert verify_chain().ok


def test_export_by_date_range(client, login_as):
    seed()
    login_as("admin")
    resp = client.get(
        "/auditlogmodelview/export/?_flt_1_created_at=2000-01-01+00:00:00&_flt_2_created_at=2001-01-01+00:00:00"
    )
    assert resp.status_code == 200
    assert len(list(csv.reader(io.StringIO(resp.get_data(as_text=True))))) == 1  # header only


def test_csv_cells_cannot_start_a_formula():

    for bad in ("=1+1", "+1", "-1", "@SUM(A1)"):
        assert csv_cell(bad) == "'" + bad
    assert csv_cell("ok") == "ok"
    assert csv_cell(None) == ""


def test_history_of_a_record(client, login_as, contact):
    contact.tags = "vip"
    db.session.commit()
    login_as("privacy")
    resp = client.get(f"/auditlogmodelview/history/contact/{contact.id}")
    assert resp.status_code == 200
    body = resp.get_data(as_text=True)
    assert body.count('<tr class="audit-row">') == 2  # insert + update
    assert "<td>Created</td>" in body
    assert "<td>Changed</td>" in body
    assert "Lovelace" not in body
    client.get("/logout/")
    login_as("agent")
    assert client.get(f"/auditlogmodelview/history/contact/{contact.id}").status_code == 403


def test_api_is_read_only_and_role_restricted(client, api):
    seed()
    resp = client.get("/api/v1/audit_log/", headers=api("privacy"))
    assert resp.status_code == 200
    assert {r["action"] for r in resp.get_json()["result"]} >= {"test_event", "other_event"}
    assert client.get("/api/v1/audit_log/", headers=api("agent")).status_code == 403
    assert client.post("/api/v1/audit_log/", json={"action": "x"}, headers=api("admin")).status_code == 405


def test_periodic_verify_raises_an_admin_visible_alert(app, client, login_as, jobs):

    seed()
    enqueue(verify_chain_job)
    jobs(("default",))
    assert service.current_alert() is None
    # Someone edits a row directly in the database.
    db.session.rollback()
    with db.engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        conn.execute(text("UPDATE audit_log SET actor_name = 'nobody' WHERE action = 'test_event'"))
        if pg:
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only"))
    enqueue(verify_chain_job)
    jobs(("default",))
    alert = service.current_alert()
    assert alert is not None
    assert alert["row_id"] is not None
    assert actions().count("audit_chain_broken") == 1
    login_as("admin")
    assert "Audit chain broken at row" in client.get("/").get_data(as_text=True)
    client.get("/logout/")
    login_as("agent")
    assert "Audit chain broken" not in client.get("/").get_data(as_text=True)
