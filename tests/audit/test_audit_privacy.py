"""Personal values never reach an audit row: scan every row after a full scenario."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import delete, text

from app import db
from app.audit import service
from app.audit.verify import verify_chain
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.context import Actor, acting_as
from app.core.models import utcnow
from app.pages.models import Page
from app.privacy import erasure as privacy
from app.privacy.models import PrivacyRequest
from app.webhooks.models import WebhookEvent
from tests.helpers import login

SECRETS = {
    "first": "Quixotella",
    "last": "Marmaduke-Vantablack",
    "note": "allergic to penicillin zx81",
    "psid": "98765432123456789",
    "pic": "https://cdn.example/pic-of-quixotella.jpg",
    "text": "my card number is 4111-2222-3333-4444",
    "attachment": "https://cdn.example/passport-scan-777.png",
    "token": "EAAsupersecretpagetokenQQQQ",
    "payload": "raw-webhook-body-with-secret-zz9",
    "details": "rectify-to-Quixotella-II",
    "email": "quixotella.staff@example.test",
    "password": "a-very-private-password-42",
}


def test_no_personal_value_appears_in_any_audit_row(app, client):

    sm = app.appbuilder.sm
    with acting_as(Actor(1, "admin", "10.0.0.1", "ua")):
        page = Page(fb_page_id="4242", name="Shop")
        page.set_token(SECRETS["token"])
        db.session.add(page)
        db.session.flush()
        contact = Contact(
            page=page,
            psid=SECRETS["psid"],
            first_name=SECRETS["first"],
            last_name=SECRETS["last"],
            profile_pic=SECRETS["pic"],
            notes=SECRETS["note"],
        )
        db.session.add(contact)
        db.session.flush()
        conv = Conversation(page_id=page.id, contact=contact, status="open", last_message_at=utcnow())
        db.session.add(conv)
        db.session.flush()
        db.session.add(
            Message(
                conversation_id=conv.id,
                direction="out",
                author_id=1,
                text=SECRETS["text"],
                attachments=[{"type": "image", "url": SECRETS["attachment"]}],
            )
        )
        db.session.add(
            PrivacyRequest(
                request_type="rectification",
                contact_id=contact.id,
                due_at=utcnow() + timedelta(days=30),
                confirmation_code="code-1",
                details={"first_name": SECRETS["details"]},
            )
        )
        db.session.commit()
        contact.first_name = SECRETS["first"] + "2"
        contact.notes = SECRETS["note"] + " updated"
        db.session.commit()
        user = sm.add_user(
            "quix", "Quixotella", "Staff", SECRETS["email"], [sm.find_role("Agent")], SECRETS["password"]
        )
        assert user
    with acting_as(Actor(None, "worker")):
        db.session.add_all(
            [
                WebhookEvent(payload=SECRETS["payload"]),
                Message(conversation_id=conv.id, direction="in", text=SECRETS["text"], mid="m.1"),
                Message(conversation_id=conv.id, direction="in", text=SECRETS["text"] + "b", mid="m.2"),
            ]
        )
        db.session.commit()
    assert login(client, "quix", SECRETS["password"]).status_code == 302
    client.get("/logout/")
    login(client, "quix", SECRETS["password"] + "x")
    with acting_as(Actor(None, "system")):
        db.session.execute(delete(Message).where(Message.conversation_id == conv.id))
        db.session.delete(contact)
        db.session.commit()

    dump = db.session.execute(text("SELECT * FROM audit_log ORDER BY id")).all()
    assert len(dump) >= 12
    blob = "\n".join(repr(tuple(r)) for r in dump)
    for name, value in SECRETS.items():
        assert value not in blob, f"{name} leaked into the audit log"
    # the card number with its dashes: a bare "4111" also turns up by chance in random hex ids
    for fragment in ("Quixotella", "4111-2222", "3333-4444", "pbkdf2", "scrypt", "EAAsuper"):
        assert fragment not in blob
    assert "[redacted]" in blob
    assert verify_chain().ok
    db.session.delete(sm.find_user(username="quix"))
    db.session.commit()


def test_contact_tags_and_locale_are_redacted(page):
    """Tags and locale describe the person and outlive erasure in the log: names only."""

    with acting_as(Actor(1, "admin", "10.0.0.1", "ua")):
        contact = Contact(page=page, psid="4400550066", tags="vip-zq7,diabetic-zq7", locale="tr_TRZ")
        db.session.add(contact)
        db.session.commit()
        contact.tags = "pregnant-zq7"
        contact.locale = "ku_TRZ"
        db.session.commit()
        privacy.erase_contact(contact)
    rows = db.session.execute(
        text("SELECT action, changes FROM audit_log WHERE entity_type = 'contact' ORDER BY id")
    ).all()
    blob = "\n".join(repr(tuple(r)) for r in rows)
    assert [r[0] for r in rows][:2] == ["insert", "update"]
    for value in ("zq7", "TRZ"):
        assert value not in blob
    for _action, changes in rows[:2]:
        data = json.loads(changes) if isinstance(changes, str) else changes
        assert data["tags"] == data["locale"] == service.REDACTED
