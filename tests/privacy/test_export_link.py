"""The requester downloads their own access export: approval -> job -> the completed notice by
real SMTP with a single-use link -> the confirmation code on the page -> the zip, once."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta

from sqlalchemy import inspect, select, text, update

from app import db
from app.core.models import utcnow
from app.core.queues import get_redis
from app.privacy import export_link
from app.privacy.export_link_model import PrivacyExportLink
from app.privacy.models import PrivacyRequest
from app.privacy.requests import create_request
from tests.helpers import audit_actions, csrf_token_from, run_jobs

LINK = re.compile(r"(https?://\S+/privacy/export/([A-Za-z0-9_-]+))")


def _completed(client, api, smtp, contact) -> tuple[PrivacyRequest, str]:
    """A web request matched to the contact, approved by a Privacy Officer, run by the worker;
    returns the request and the path of the link the completed mail carries."""
    req = create_request(
        "access",
        contact,
        source="web",
        requester_email="ada@example.org",
        identity_check="matched to the contact by the test",
        web_intake={"requester_name": "Ada", "message": ""},
    )
    resp = client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy"))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    run_jobs()
    req = db.session.get(PrivacyRequest, req.id)
    assert req.status == "complete"
    mail = smtp.messages[-1]
    assert mail["Subject"] == "Your privacy request is complete"
    assert mail["To"] == "ada@example.org"
    body = smtp.texts()[-1]
    match = LINK.search(body)
    assert match is not None, body
    assert req.confirmation_code in body
    return req, "/privacy/export/" + match.group(2)


def _post(client, path: str, code: str, ip: str = "198.51.100.7"):
    page = client.get(path)
    token = csrf_token_from(page.get_data(as_text=True)) if page.status_code == 200 else _csrf(client)
    return client.post(path, data={"code": code, "csrf_token": token}, environ_base={"REMOTE_ADDR": ip})


def _csrf(client) -> str:
    """A CSRF token from another public form (the link's own page is gone)."""
    return csrf_token_from(client.get("/privacy/request").get_data(as_text=True))


def _wrong(req: PrivacyRequest) -> str:
    return "f" * len(req.confirmation_code) if req.confirmation_code[0] != "f" else "0" * len(req.confirmation_code)


def test_the_link_in_the_completed_mail_downloads_the_zip_once(client, api, smtp, contact):
    req, path = _completed(client, api, smtp, contact)
    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert 'name="code"' in page.get_data(as_text=True)
    resp = _post(client, path, f"  {req.confirmation_code.upper()} ")
    assert resp.status_code == 200
    assert resp.mimetype == "application/zip"
    assert resp.headers["Content-Disposition"] == f'attachment; filename="privacy-request-{req.id}.zip"'
    zf = zipfile.ZipFile(io.BytesIO(resp.get_data()))
    assert sorted(zf.namelist()) == ["README.txt", "contact.json", "messages.csv", "messages.json"]
    assert b'"Lovelace"' in zf.read("contact.json")
    assert "privacy_export_downloaded" in audit_actions("privacy_request")
    link = db.session.scalar(select(PrivacyExportLink))
    assert link.used_at is not None
    # single use: the same link and code are refused with the neutral page
    again = _post(client, path, req.confirmation_code)
    assert again.status_code == 404
    assert 'id="link-gone"' in again.get_data(as_text=True)
    assert client.get(path).status_code == 404


def test_the_link_expires_seven_days_after_completion(client, api, smtp, contact):
    req, path = _completed(client, api, smtp, contact)
    link = db.session.scalar(select(PrivacyExportLink))
    assert timedelta(days=7) - timedelta(minutes=1) < link.expires_at - req.completed_at <= timedelta(days=7, seconds=5)
    db.session.execute(update(PrivacyExportLink).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    expired = _post(client, path, req.confirmation_code)
    unknown = _post(client, "/privacy/export/" + "A" * 43, req.confirmation_code)
    assert expired.status_code == unknown.status_code == 404
    assert expired.get_data() == unknown.get_data()  # no oracle: expired looks like unknown
    assert db.session.scalar(select(PrivacyExportLink.used_at)) is None


def test_wrong_codes_count_and_the_fifth_burns_the_link(client, api, smtp, contact):
    req, path = _completed(client, api, smtp, contact)
    for left in (4, 3, 2, 1):
        resp = _post(client, path, _wrong(req))
        assert resp.status_code == 400
        assert f"{left} tries left" in resp.get_data(as_text=True)
    burned = _post(client, path, _wrong(req))
    assert burned.status_code == 404
    assert _post(client, path, req.confirmation_code).status_code == 404
    assert "privacy_export_link_burned" in audit_actions("privacy_request")
    assert "privacy_export_downloaded" not in audit_actions("privacy_request")


def test_the_token_is_never_stored_in_clear(client, api, smtp, contact):
    _req, path = _completed(client, api, smtp, contact)
    token = path.rsplit("/", 1)[1]
    assert db.session.scalar(select(PrivacyExportLink.token_hash)) == export_link.hash_token(token)
    conn = db.session.connection()
    for table in inspect(conn).get_table_names():
        for row in conn.execute(text(f'SELECT * FROM "{table}"')):  # raw: encrypted columns stay encrypted
            assert token not in repr(tuple(row)), table
    redis = get_redis()
    for key in redis.scan_iter("*"):
        assert token.encode() not in key
        if redis.type(key) == b"string":
            assert token.encode() not in (redis.get(key) or b"")


def test_rate_limited_per_link_and_per_client(client, api, smtp, contact, monkeypatch):
    req, path = _completed(client, api, smtp, contact)
    monkeypatch.setattr(export_link, "PER_LINK_PER_HOUR", 3)
    for i in range(3):
        assert _post(client, path, _wrong(req), ip=f"203.0.113.{i}").status_code == 400
    limited = _post(client, path, req.confirmation_code, ip="203.0.113.99")
    assert limited.status_code == 429
    assert "Too many attempts" in limited.get_data(as_text=True)
    assert db.session.scalar(select(PrivacyExportLink.used_at)) is None
    # per client address: unknown tokens count too, then even a good link is refused
    monkeypatch.setattr(export_link, "PER_LINK_PER_HOUR", 100)
    for i in range(export_link.PER_CLIENT_PER_HOUR):
        assert _post(client, f"/privacy/export/{'B' * 42}{i:02d}", "x", ip="192.0.2.1").status_code == 404
    assert _post(client, path, req.confirmation_code, ip="192.0.2.1").status_code == 429
    assert _post(client, path, req.confirmation_code, ip="192.0.2.2").status_code == 200


def test_csrf_is_required(client, api, smtp, contact):
    req, path = _completed(client, api, smtp, contact)
    resp = client.post(path, data={"code": req.confirmation_code})
    assert resp.status_code == 400
    assert db.session.scalar(select(PrivacyExportLink.used_at)) is None


def test_a_parallel_download_that_spent_the_link_first_wins(client, api, smtp, contact, monkeypatch):
    req, path = _completed(client, api, smtp, contact)
    real = export_link.decrypt_file

    def other_download_finishes_first(file_path: str):
        with db.engine.begin() as other:  # another worker's connection
            other.execute(update(PrivacyExportLink).values(used_at=utcnow()))
        return real(file_path)

    monkeypatch.setattr(export_link, "decrypt_file", other_download_finishes_first)
    resp = _post(client, path, req.confirmation_code)
    assert resp.status_code == 404
    assert "privacy_export_downloaded" not in audit_actions("privacy_request")


def test_a_privacy_officer_sends_a_new_link_and_the_old_one_dies(client, api, smtp, contact, login_as):
    req, old_path = _completed(client, api, smtp, contact)
    mails = len(smtp.messages)
    agent = login_as("agent")
    token = csrf_token_from(agent.get("/privacyrequestmodelview/add").get_data(as_text=True))
    assert agent.post(f"/privacyrequestmodelview/export_link/{req.id}", data={"csrf_token": token}).status_code == 403
    assert db.session.scalar(select(db.func.count(PrivacyExportLink.id))) == 1
    client.get("/logout/")
    po = login_as("privacy")
    show = po.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert 'id="new-export-link"' in show
    resp = po.post(f"/privacyrequestmodelview/export_link/{req.id}", data={"csrf_token": csrf_token_from(show)})
    assert resp.status_code == 302
    run_jobs(("default",))
    assert len(smtp.messages) == mails + 1
    new_path = "/privacy/export/" + LINK.search(smtp.texts()[-1]).group(2)
    assert new_path != old_path
    assert "privacy_export_link_issued" in audit_actions("privacy_request")
    show = po.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert "replaced by a newer link" in show
    assert "privacy officer" in show
    client.get("/logout/")
    assert _post(client, old_path, req.confirmation_code).status_code == 404
    assert _post(client, new_path, req.confirmation_code).status_code == 200
    po = login_as("privacy")
    show = po.get(f"/privacyrequestmodelview/show/{req.id}").get_data(as_text=True)
    assert re.search(r'class="link-state">used \d{4}-', show)


def test_an_erasure_gets_no_link(client, api, smtp, contact):
    req = create_request("erasure", contact, source="web", requester_email="ada@example.org", identity_check="test")
    client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy"))
    run_jobs()
    assert db.session.get(PrivacyRequest, req.id).status == "complete"
    assert "/privacy/export/" not in smtp.texts()[-1]
    assert db.session.scalar(select(PrivacyExportLink.id)) is None


def test_a_messenger_requester_gets_the_link_in_the_conversation(client, api, contact, conversation):
    from app.conversations.models import Message  # noqa: PLC0415 - only this test

    req = create_request("access", contact, source="messenger")
    assert client.post(f"/api/v1/privacy_request/{req.id}/approve", headers=api("privacy")).status_code == 200
    run_jobs(("privacy", "default"))  # not "outbound": the reply stays queued, its text readable
    texts = [m.text for m in db.session.scalars(select(Message).order_by(Message.id))]
    match = LINK.search(texts[-1])
    assert match is not None, texts
    assert req.confirmation_code in texts[-1]
    assert _post(client, "/privacy/export/" + match.group(2), req.confirmation_code).status_code == 200
