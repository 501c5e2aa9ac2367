"""`flask omnicrm demo` links an Instagram account and adds Instagram conversations, once."""

from __future__ import annotations

from sqlalchemy import func, select

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation
from app.devtools.demo_instagram import DEMO_IG_ACCOUNT_ID
from app.pages.models import Page


def _instagram_conversations() -> int:
    return db.session.scalar(select(func.count()).select_from(Conversation).where(Conversation.channel == "instagram"))


def test_demo_adds_instagram_once(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["omnicrm", "demo", "--contacts", "4"])
    assert result.exit_code == 0, result.output
    assert "instagram: page Acme Bikes linked" in result.output
    page = db.session.scalar(select(Page).where(Page.ig_account_id == DEMO_IG_ACCOUNT_ID))
    assert page.name == "Acme Bikes"
    assert _instagram_conversations() == 4
    usernames = db.session.scalars(select(Contact.username).where(Contact.channel == "instagram")).all()
    assert all(usernames)
    assert db.session.scalar(select(func.count()).select_from(Contact).where(Contact.channel == "messenger")) == 4
    assert runner.invoke(args=["omnicrm", "demo", "--contacts", "4"]).exit_code == 0
    assert _instagram_conversations() == 4
