"""`flask omnicrm policy publish`: versions shown on /privacy, material changes mail staff and
show a banner until acknowledged (audited)."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.privacy.models import PolicyAcknowledgement, PolicyVersion
from app.privacy.policy_versions import SHIPPED_POLICY
from tests.helpers import csrf_token_from, login, run_jobs


def _publish(app, *args: str):
    return app.test_cli_runner().invoke(args=["omnicrm", "policy", "publish", *args])


def test_publish_needs_a_kind(app):
    result = _publish(app)
    assert result.exit_code == 2
    assert "--material" in result.output


def test_a_minor_version_is_recorded_and_shown_on_privacy(app, client):
    result = _publish(app, "--minor")
    assert result.exit_code == 0, result.output
    assert "Published privacy policy version 1" in result.output
    version = db.session.scalar(select(PolicyVersion))
    with open(SHIPPED_POLICY, encoding="utf-8") as fh:
        assert version.sha256 == hashlib.sha256(fh.read().encode()).hexdigest()
    page = client.get("/privacy").get_data(as_text=True)
    assert f"{version.published_at.day} {version.published_at:%B %Y} (version 1)" in page
    assert "November 29, 2024" not in page
    again = _publish(app, "--minor")
    assert again.exit_code == 2
    assert "already version 1" in again.output


def test_a_material_change_mails_staff_and_shows_a_banner_until_acknowledged(app, login_as, smtp, tmp_path):
    _publish(app, "--minor")
    changed = tmp_path / "policy.md"
    changed.write_text("# Privacy Policy\n\n**Last Updated:** soon\n\nWe now also keep Instagram messages.\n")
    result = _publish(app, "--material", "--file", str(changed))
    assert result.exit_code == 0, result.output
    assert "e-mailed" in result.output
    run_jobs(("default",))
    recipients = sorted(m["To"] for m in smtp.messages)
    assert "agent@example.test" in recipients
    assert "privacy@example.test" in recipients
    assert all(m["Subject"] == "Privacy policy changed (version 2)" for m in smtp.messages)
    client = login_as("agent")
    home = client.get("/conversations/").get_data(as_text=True)
    assert 'id="policy-banner"' in home
    assert "version 2" in home
    version = db.session.scalar(select(PolicyVersion).where(PolicyVersion.version == 2))
    resp = client.post(
        "/policy/acknowledge",
        data={"version_id": version.id, "next": "/conversations/", "csrf_token": csrf_token_from(home)},
    )
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith("/conversations/")
    assert 'id="policy-banner"' not in client.get("/conversations/").get_data(as_text=True)
    assert db.session.scalar(select(PolicyAcknowledgement.id)) is not None
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity_type == "policy_version")).all()
    assert actions.count("policy_published") == 2
    assert actions.count("policy_acknowledged") == 1
    # another user still sees it
    other = app.test_client()
    login(other, "manager")
    assert 'id="policy-banner"' in other.get("/conversations/").get_data(as_text=True)


def test_acknowledging_an_unknown_version_is_refused(login_as):
    client = login_as("agent")
    page = client.get("/privacyrequestmodelview/add").get_data(as_text=True)
    resp = client.post("/policy/acknowledge", data={"version_id": "99999", "csrf_token": csrf_token_from(page)})
    assert resp.status_code == 303
    assert "no such policy version" in client.get("/conversations/").get_data(as_text=True)
