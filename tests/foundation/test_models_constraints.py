"""Database constraints the product relies on."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.pages.models import Page


def test_psid_is_unique_per_page(page):
    db.session.add(Contact(page=page, psid="555"))
    db.session.commit()
    db.session.add(Contact(page=page, psid="555"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    other = Page(fb_page_id="999999", name="Other")
    db.session.add(other)
    db.session.add(Contact(page=other, psid="555"))
    db.session.commit()  # the same PSID on another page is another person
    assert db.session.query(Contact).filter_by(psid="555").count() == 2


def test_mid_is_unique(conversation):
    db.session.add(Message(conversation=conversation, direction="in", mid="m_1", text="a"))
    db.session.commit()
    db.session.add(Message(conversation=conversation, direction="in", mid="m_1", text="b"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # many messages without a mid (queued replies) are fine
    db.session.add_all([Message(conversation=conversation, direction="out", text=str(i)) for i in range(3)])
    db.session.commit()
    assert db.session.query(Message).filter(Message.mid.is_(None)).count() == 3


def test_one_conversation_per_page_and_contact(conversation):
    db.session.add(Conversation(page_id=conversation.page_id, contact_id=conversation.contact_id))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_page_id_is_unique(page):
    db.session.add(Page(fb_page_id=page.fb_page_id, name="dup"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_sensitive_columns_are_encrypted_at_rest(page, conversation):
    msg = Message(
        conversation=conversation,
        direction="in",
        mid="m_enc",
        text="my secret order 4242",
        attachments=[{"type": "image", "url": "https://cdn.example/x.png"}],
    )
    conversation.contact.notes = "prefers phone calls"
    db.session.add(msg)
    db.session.commit()
    raw = db.session.execute(text("SELECT text, attachments FROM message WHERE mid = 'm_enc'")).one()
    assert "4242" not in raw[0]
    assert raw[0].startswith("gAAAAA")
    assert "cdn.example" not in raw[1]
    raw_token = db.session.execute(
        text("SELECT access_token, token_last4 FROM page WHERE id = :i"), {"i": page.id}
    ).one()
    assert "EAAtest" not in raw_token[0]
    assert raw_token[1] == "WXYZ"
    raw_notes = db.session.execute(
        text("SELECT notes FROM contact WHERE id = :i"), {"i": conversation.contact_id}
    ).scalar()
    assert "phone" not in raw_notes
    db.session.expire_all()
    assert db.session.get(Message, msg.id).text == "my secret order 4242"
