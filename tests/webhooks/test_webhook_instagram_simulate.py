"""`flask omnicrm simulate --channel instagram` posts signed Instagram Direct samples."""

from __future__ import annotations

from sqlalchemy import select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message


def test_simulate_instagram_posts_a_signed_conversation(app, page, jobs, live_url):
    page.ig_account_id = "17841400000000001"
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["omnicrm", "simulate", "--channel", "instagram", "--url", live_url])
    assert result.exit_code == 0, result.output
    assert "Instagram account 17841400000000001" in result.output
    assert result.output.count("HTTP 200") == 8
    jobs(("webhooks",))
    db.session.expire_all()
    [contact] = db.session.scalars(select(Contact)).all()
    assert contact.channel == "instagram"
    assert db.session.scalar(select(Conversation)).channel == "instagram"
    messages = {m.kind: m for m in db.session.scalars(select(Message).order_by(Message.created_at))}
    assert set(messages) == {"text", "story_mention", "unsent", "postback", "reaction"}
    assert messages["text"].text == "Hi! Do you have this jacket in size M?"  # the edit applied
    assert messages["unsent"].text is None  # the story reply was unsent


def test_simulate_instagram_needs_a_linked_page(app, page):
    args = ["omnicrm", "simulate", "--channel", "instagram", "--url", "http://127.0.0.1:1/x"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code != 0
    assert "omnicrm page instagram" in result.output
