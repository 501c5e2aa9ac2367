"""`flask omnicrm simulate` posts signed sample events to a real running server."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.conversations.models import Message


def test_simulate_posts_a_signed_conversation(app, page, jobs, live_url):
    result = app.test_cli_runner().invoke(args=["omnicrm", "simulate", "--url", live_url])
    assert result.exit_code == 0, result.output
    assert result.output.count("HTTP 200") == 6
    for label in ("text", "attachment", "postback", "reaction", "delivery", "read"):
        assert label in result.output
    jobs(("webhooks",))
    db.session.expire_all()
    kinds = [m.kind for m in db.session.scalars(select(Message).order_by(Message.created_at))]
    assert kinds == ["text", "attachment", "postback", "reaction"]


def test_simulate_explains_when_the_server_is_down(app, page):
    result = app.test_cli_runner().invoke(
        args=["omnicrm", "simulate", "--url", "http://127.0.0.1:1/webhooks/messenger"]
    )
    assert result.exit_code != 0
    assert "is the server running" in result.output


def test_simulate_needs_a_page(app):
    result = app.test_cli_runner().invoke(args=["omnicrm", "simulate", "--url", "http://127.0.0.1:1/x"])
    assert result.exit_code != 0
    assert "no page connected" in result.output
