"""A full scenario's responses and log records never contain a page token or a server secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

import pytest
import sqlalchemy as sa

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation
from app.core.models import utcnow
from app.pages.models import Page
from tests.helpers import csrf_token_from

T_API = "EAAapitokenAAAA1111secretAPI1"
T_FORM = "EAAformtokenBBBB2222secretFORM2"
T_API_NEW = "EAAapitokenCCCC3333secretAPI3"
T_FORM_NEW = "EAAformtokenDDDD4444secretFORM4"
TOKENS = [T_API, T_FORM, T_API_NEW, T_FORM_NEW]


class Recorder:
    """Every response (status line, headers, body) of the scenario, as text."""

    def __init__(self) -> None:
        self.chunks: list[str] = []

    def __call__(self, resp):
        self.chunks.append(f"{resp.status} {dict(resp.headers)}\n{resp.get_data(as_text=True)}")
        return resp


def _secrets(app) -> dict[str, str]:
    out = {f"token{i}": t for i, t in enumerate(TOKENS)}
    out["FB_APP_SECRET"] = app.config["FB_APP_SECRET"]
    out["SECRET_KEY"] = app.config["SECRET_KEY"]
    for i, key in enumerate(k.strip() for k in app.config["ENCRYPTION_KEYS"].split(",")):
        out[f"ENCRYPTION_KEYS[{i}]"] = key
    return out


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, value in secrets.items() if value and value in text]


@pytest.fixture
def scenario_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "flask_appbuilder", "app", "rq", "werkzeug", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _contact_and_conversation(page_id: int, psid: str):

    contact = Contact(page_id=page_id, psid=psid, first_name="Grace", last_inbound_at=utcnow())
    db.session.add(contact)
    db.session.flush()
    conv = Conversation(
        page_id=page_id, contact_id=contact.id, status="open", last_message_at=utcnow(), last_inbound_at=utcnow()
    )
    db.session.add(conv)
    db.session.commit()
    return conv


def test_no_token_or_secret_in_any_response_or_log_line(app, api, fakegraph, jobs, scenario_logs):

    rec = Recorder()
    admin_jwt = api("admin")
    agent_jwt = api("agent")
    # The admin's browser (conftest makes each request authenticate from its own cookies).
    browser = app.test_client()
    page = browser.get("/login/").get_data(as_text=True)
    rec(
        browser.post(
            "/login/",
            data={"username": "admin", "password": "correct-horse-battery", "csrf_token": csrf_token_from(page)},
        )
    )
    api_client = app.test_client()

    # 1. Pages created through the API and through the admin form.
    created = rec(
        api_client.post(
            "/api/v1/page/",
            json={"fb_page_id": "5550001", "name": "API page", "access_token": T_API},
            headers=admin_jwt,
        )
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    api_page_id = created.get_json()["id"]
    form = rec(browser.get("/pagemodelview/add")).get_data(as_text=True)
    resp = rec(
        browser.post(
            "/pagemodelview/add",
            data={
                "name": "Form page",
                "fb_page_id": "5550002",
                "new_access_token": T_FORM,
                "retention_days": "365",
                "subscribed": "y",
                "csrf_token": csrf_token_from(form),
            },
        )
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    form_page = db.session.scalar(sa.select(Page).where(Page.fb_page_id == "5550002"))
    assert form_page.access_token == T_FORM

    # 2. Every way of looking at them.
    for url in (
        "/pagemodelview/list/",
        f"/pagemodelview/show/{api_page_id}",
        f"/pagemodelview/edit/{api_page_id}",
        f"/pagemodelview/show/{form_page.id}",
        f"/pagemodelview/edit/{form_page.id}",
    ):
        assert rec(browser.get(url)).status_code == 200, url
    for url in ("/api/v1/page/", f"/api/v1/page/{api_page_id}", f"/api/v1/page/{form_page.id}", "/api/v1/page/_info"):
        assert rec(api_client.get(url, headers=admin_jwt)).status_code == 200, url
    shown = api_client.get(f"/api/v1/page/{api_page_id}", headers=admin_jwt).get_json()["result"]
    assert shown["token_last4"] == T_API[-4:]

    # 3. New tokens, through both doors.
    resp = rec(api_client.put(f"/api/v1/page/{api_page_id}", json={"access_token": T_API_NEW}, headers=admin_jwt))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    edit = rec(browser.get(f"/pagemodelview/edit/{form_page.id}")).get_data(as_text=True)
    resp = rec(
        browser.post(
            f"/pagemodelview/edit/{form_page.id}",
            data={
                "name": "Form page",
                "new_access_token": T_FORM_NEW,
                "retention_days": "365",
                "subscribed": "y",
                "csrf_token": csrf_token_from(edit),
            },
        )
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Page, api_page_id).access_token == T_API_NEW
    assert db.session.get(Page, form_page.id).access_token == T_FORM_NEW

    # 4. Graph errors while sending, one of them echoing the token back.
    conv_a = _contact_and_conversation(api_page_id, "9001")
    conv_b = _contact_and_conversation(form_page.id, "9002")
    fakegraph.fail_next(190, http_status=400, message=f"Error validating access token {T_API_NEW}: session expired")
    r = rec(api_client.post(f"/api/v1/conversation/{conv_a.id}/reply", json={"text": "hello"}, headers=agent_jwt))
    assert r.status_code == 202, r.get_data(as_text=True)
    jobs()
    fakegraph.fail_next(100, http_status=400, message=f"Invalid parameter (token {T_FORM_NEW})")
    r = rec(api_client.post(f"/api/v1/conversation/{conv_b.id}/reply", json={"text": "hi"}, headers=agent_jwt))
    assert r.status_code == 202, r.get_data(as_text=True)
    jobs()
    assert fakegraph.requests_log, "the Graph client was not used"
    for url in (
        "/messagemodelview/list/",
        f"/conversations/{conv_a.id}",
        f"/conversations/{conv_b.id}",
        f"/conversations/{conv_b.id}/poll?since=0",
        "/pagemodelview/list/",
        "/",
    ):
        assert rec(browser.get(url)).status_code == 200, url
    rec(api_client.get("/api/v1/message/", headers=admin_jwt))

    # 5. A signed webhook (the app secret signs it, it is never echoed).
    body = json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": "5550001",
                    "time": int(time.time() * 1000),
                    "messaging": [
                        {
                            "sender": {"id": "9001"},
                            "recipient": {"id": "5550001"},
                            "timestamp": int(time.time() * 1000),
                            "message": {"mid": "m.secret.1", "text": "hello there"},
                        }
                    ],
                }
            ],
        }
    ).encode()
    sig = "sha256=" + hmac.new(app.config["FB_APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    rec(app.test_client().post("/webhooks/messenger", data=body, headers={"X-Hub-Signature-256": sig}))
    jobs()

    secrets = _secrets(app)
    problems = []
    for i, chunk in enumerate(rec.chunks):
        leaked = _leaks(chunk, secrets)
        if leaked:
            problems.append(f"response #{i}: {leaked}")
    records = scenario_logs.records
    assert records, "nothing was logged: the capture is not working"
    for record in records:
        text = record.getMessage() + repr(record.args)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        leaked = _leaks(text, secrets)
        if leaked:
            problems.append(f"log {record.name}:{record.levelname}: {leaked}: {record.getMessage()[:200]}")
    # The audit log is a log too.
    rows = db.session.execute(sa.text("SELECT * FROM audit_log")).all()
    for row in rows:
        leaked = _leaks(repr(tuple(row)), secrets)
        if leaked:
            problems.append(f"audit_log row {row[0]}: {leaked}")
    # Error text shown to agents is stored scrubbed.
    messages = db.session.execute(sa.text("SELECT error_message FROM message WHERE error_message IS NOT NULL")).all()
    assert messages, "no Graph error was recorded"
    for (error_message,) in messages:
        leaked = _leaks(error_message, secrets)
        if leaked:
            problems.append(f"message.error_message: {leaked}")
    assert problems == [], "\n".join(problems)
