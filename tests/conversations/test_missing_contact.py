"""A conversation whose contact row is gone never takes the inbox or its page down."""

from __future__ import annotations

from sqlalchemy import text

from app import db
from app.conversations import services


def _remove_contact_row(contact_id: int) -> None:
    """Delete the contact but keep its conversation (the FK would cascade: bypass it)."""
    postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        db.session.execute(text("SET session_replication_role = replica"))  # FK triggers off
    db.session.execute(text("DELETE FROM contact WHERE id = :id"), {"id": contact_id})
    if postgres:
        db.session.execute(text("SET session_replication_role = origin"))
    db.session.commit()
    db.session.expunge_all()


def test_inbox_and_conversation_show_a_placeholder_for_a_removed_contact(login_as, conversation):
    conversation_id, contact_id = conversation.id, conversation.contact_id
    _remove_contact_row(contact_id)
    assert db.session.execute(text("SELECT count(*) FROM conversation")).scalar_one() == 1

    client = login_as("agent")
    inbox = client.get("/conversations/")
    assert inbox.status_code == 200
    html = inbox.get_data(as_text=True)
    assert "(contact removed)" in html
    assert f'href="/conversations/{conversation_id}"' in html
    assert "1–1 of 1" in html

    page = client.get(f"/conversations/{conversation_id}")
    assert page.status_code == 200
    assert "(contact removed)" in page.get_data(as_text=True)

    assert client.get(f"/conversations/{conversation_id}/poll").status_code == 200


def test_inbox_rules_cope_with_a_removed_contact(conversation):
    _remove_contact_row(conversation.contact_id)
    orphan = services.inbox(status="all").rows[0]
    assert orphan.contact is None
    assert services.last_inbound_at(orphan) == orphan.last_inbound_at
    assert services.waiting_since_many([orphan]) == {orphan.id: orphan.last_inbound_at}
