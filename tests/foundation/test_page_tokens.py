"""Page tokens are write-only: never in a grid, show page, edit form, API answer or log line."""

from __future__ import annotations

import logging

from app import db
from app.pages.models import Page
from tests.helpers import csrf_token_from, login

TOKEN = "EAAGsecretTOKENvalue9876ZQ"


def test_token_never_leaks(app, client, api, caplog):
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []
    login(client, "admin")
    form = client.get("/pagemodelview/add")
    bodies.append(form.get_data(as_text=True))
    resp = client.post(
        "/pagemodelview/add",
        data={
            "name": "Bikes",
            "fb_page_id": "4242",
            "new_access_token": TOKEN,
            "retention_days": "365",
            "subscribed": "y",
            "csrf_token": csrf_token_from(bodies[-1]),
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    page = db.session.query(Page).filter_by(fb_page_id="4242").one()
    assert page.access_token == TOKEN
    assert page.token_last4 == TOKEN[-4:]
    for path in ("/pagemodelview/list/", f"/pagemodelview/show/{page.id}", f"/pagemodelview/edit/{page.id}"):
        r = client.get(path)
        assert r.status_code == 200, path
        bodies.append(r.get_data(as_text=True))
    assert "…" + TOKEN[-4:] in bodies[1]

    headers = api("admin")
    r = client.post(
        "/api/v1/page/", json={"fb_page_id": "5151", "name": "API page", "access_token": TOKEN + "2"}, headers=headers
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    bodies.append(r.get_data(as_text=True))
    for path in ("/api/v1/page/", f"/api/v1/page/{page.id}", "/api/v1/page/_info"):
        r = client.get(path, headers=headers)
        assert r.status_code == 200, path
        bodies.append(r.get_data(as_text=True))
    assert '"token_last4"' in bodies[-2]

    for body in bodies:
        assert TOKEN not in body
        assert TOKEN[:-4] not in body
    for record in caplog.records:
        assert TOKEN[:-4] not in record.getMessage()


def test_api_page_without_token_is_422(client, api):
    r = client.post("/api/v1/page/", json={"fb_page_id": "777", "name": "No token"}, headers=api("admin"))
    assert r.status_code == 422
    assert "access_token" in r.get_data(as_text=True)
    assert db.session.query(Page).filter_by(fb_page_id="777").count() == 0


def test_cli_page_add_reads_token_from_stdin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["omnicrm", "page", "add", "--page-id", "8080", "--name", "CLI page"], input=TOKEN + "\n"
    )
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output
    assert TOKEN[-4:] in result.output
    assert db.session.query(Page).filter_by(fb_page_id="8080").one().access_token == TOKEN
    bad = runner.invoke(args=["omnicrm", "page", "add", "--page-id", "abc", "--name", "x"], input=TOKEN)
    assert bad.exit_code == 2
    assert "numeric" in bad.output
