"""Contacts and conversations grids: tag filter, page sizes, links both ways, notes from the
conversation, readable values, delete only for Admins, and the audited CSV export."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
from sqlalchemy import select

from app import db
from app.audit.models import AuditLog
from app.contacts.models import Contact
from app.conversations.models import Conversation
from app.core import csv_stream
from app.core.csv_stream import csv_cell
from app.core.models import utcnow
from tests.helpers import csrf_token_from


def _contacts(page, specs: list[tuple[str, str | None]]) -> list[Contact]:
    rows = [
        Contact(page=page, psid=f"9100{i:04d}", first_name=name, tags=tags, last_inbound_at=utcnow())
        for i, (name, tags) in enumerate(specs)
    ]
    db.session.add_all(rows)
    db.session.commit()
    return rows


def _csv(resp) -> list[list[str]]:
    return list(csv.reader(io.StringIO(resp.get_data(as_text=True))))


def test_tag_filter_defaults_to_contains_and_shows_the_active_filter(login_as, page):
    _contacts(page, [("Vera", "vip"), ("Rita", "returning, vip"), ("Nora", "new")])
    html = login_as("manager").get("/contactmodelview/list/?_flt_0_tags=vip").get_data(as_text=True)
    assert "Vera" in html
    assert "Rita" in html
    assert "Nora" not in html
    assert "<strong>Filtered:</strong>" in html
    assert "Tags contains “vip”" in html
    assert 'class="label label-info omni-tag">returning</span>' in html


def test_page_sizes_up_to_250_and_never_more(login_as, page):
    _contacts(page, [(f"P{i}", None) for i in range(30)])
    client = login_as("manager")
    html = client.get("/contactmodelview/list/").get_data(as_text=True)
    for size in (25, 50, 100, 250):
        assert f"psize_ContactModelView={size}" in html
    html = client.get("/contactmodelview/list/?psize_ContactModelView=100000").get_data(as_text=True)
    assert "Page size: 250" in html


def test_grid_values_are_readable(login_as, conversation):
    conversation.contact.last_inbound_at = datetime(2026, 11, 29, 22, 37, 36, 678373)
    conversation.contact.tags = None
    db.session.commit()
    html = login_as("manager").get("/contactmodelview/list/").get_data(as_text=True)
    assert "29 Nov 2026, 22:37 UTC" in html
    assert "678373" not in html
    assert ">No<" in html  # marketing opt-out
    assert "None" not in html.split("<tbody>")[1].split("</tbody>")[0]
    assert "—" in html


def test_contact_and_conversations_link_both_ways(login_as, conversation):
    client = login_as("manager")
    html = client.get("/contactmodelview/list/").get_data(as_text=True)
    assert f'href="/contactmodelview/conversation/{conversation.contact_id}"' in html
    resp = client.get(f"/contactmodelview/conversation/{conversation.contact_id}")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/conversations/{conversation.id}")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert f'href="/contactmodelview/show/{conversation.contact_id}"' in html
    grid = client.get("/conversationmodelview/list/").get_data(as_text=True)
    assert f'href="/conversations/{conversation.id}" class="omni-row-link">Ada Lovelace' in grid


def test_conversations_grid_filters_by_contact(login_as, conversation, page):
    [other] = _contacts(page, [("Otto", None)])
    db.session.add(Conversation(page_id=page.id, contact_id=other.id, status="open", last_message_at=utcnow()))
    db.session.commit()
    html = login_as("manager").get(f"/conversationmodelview/list/?_flt_0_contact_id={other.id}").get_data(as_text=True)
    assert "Otto" in html
    assert "Ada Lovelace" not in html


def test_contact_without_conversation_goes_to_its_record(login_as, page):
    [lonely] = _contacts(page, [("Lone", None)])
    resp = login_as("agent").get(f"/contactmodelview/conversation/{lonely.id}")
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/contactmodelview/show/{lonely.id}")


def test_agent_edits_notes_and_tags_from_the_contact_card(login_as, conversation):
    client = login_as("agent")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert 'id="edit-notes-tags"' in html
    form = client.get(f"/contactmodelview/notes/{conversation.contact_id}?next=/conversations/{conversation.id}")
    assert form.status_code == 200
    body = form.get_data(as_text=True)
    assert f'name="next" value="/conversations/{conversation.id}"' in body
    resp = client.post(
        f"/contactmodelview/notes/{conversation.contact_id}",
        data={
            "csrf_token": csrf_token_from(body),
            "notes": "prefers mornings",
            "tags": "vip, returning",
            "next": f"/conversations/{conversation.id}",
        },
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/conversations/{conversation.id}")
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "prefers mornings" in html
    assert 'omni-tag">vip</span>' in html


def test_agent_edit_of_a_contact_is_a_403_that_points_to_notes(login_as, conversation):
    resp = login_as("agent").get(f"/contactmodelview/edit/{conversation.contact_id}")
    assert resp.status_code == 403
    assert f'href="/contactmodelview/notes/{conversation.contact_id}"' in resp.get_data(as_text=True)


@pytest.mark.parametrize(("role", "can_delete"), [("admin", True), ("manager", False), ("agent", False)])
def test_delete_button_only_for_admins(login_as, conversation, role, can_delete):
    html = login_as(role).get("/contactmodelview/list/").get_data(as_text=True)
    assert ("/contactmodelview/delete/" in html) is can_delete


def test_csv_cell_is_formula_safe():
    assert [csv_cell(v) for v in ("=1+1", "+x", "-x", "@x", "\tx", "ok", None, True, False)] == [
        "'=1+1",
        "'+x",
        "'-x",
        "'@x",
        "'\tx",
        "ok",
        "",
        "Yes",
        "No",
    ]
    assert csv_cell(datetime(2026, 1, 2, 3, 4, 5, 678)) == "2026-01-02 03:04:05"


def test_manager_exports_the_filtered_contacts_grid(login_as, page):
    _contacts(page, [("=HYPERLINK(1)", "vip"), ("Rita", "returning, vip"), ("Nora", "new")])
    client = login_as("manager")
    html = client.get("/contactmodelview/list/?_flt_0_tags=vip").get_data(as_text=True)
    assert 'href="/contactmodelview/export/?_flt_0_tags=vip"' in html
    resp = client.get("/contactmodelview/export/?_flt_0_tags=vip")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert "attachment" in resp.headers["Content-Disposition"]
    rows = _csv(resp)
    assert rows[0][:3] == ["id", "name", "page"]
    names = sorted(r[1] for r in rows[1:])
    assert names == ["'=HYPERLINK(1)", "Rita"]
    entry = db.session.scalars(select(AuditLog).where(AuditLog.action == "grid_exported")).one()
    changes = entry.changes if isinstance(entry.changes, dict) else json.loads(entry.changes)
    assert changes["rows"] == 2
    assert changes["grid"] == "contacts"
    assert changes["filters"] == ["tags:0"]
    assert "vip" not in json.dumps(changes)
    assert entry.actor_name == "manager"


def test_manager_exports_conversations_filtered_by_contact(login_as, conversation):
    resp = login_as("manager").get(f"/conversationmodelview/export/?_flt_0_contact_id={conversation.contact_id}")
    assert resp.status_code == 200
    rows = _csv(resp)
    assert rows[0][0] == "id"
    assert [r[0] for r in rows[1:]] == [str(conversation.id)]
    assert rows[1][2] == "Ada Lovelace"


@pytest.mark.parametrize("role", ["agent", "privacy"])
def test_export_is_refused_without_the_permission(login_as, conversation, role):
    client = login_as(role)
    assert client.get("/contactmodelview/export/").status_code == 403
    assert 'id="grid-export"' not in client.get("/contactmodelview/list/").get_data(as_text=True)
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "grid_exported")) is None


def test_export_streams_in_batches(app, login_as, page, monkeypatch):
    monkeypatch.setattr(csv_stream, "BATCH_SIZE", 7)
    statements = []
    monkeypatch.setattr(
        csv_stream.db.session, "execute", _counting(csv_stream.db.session.execute, statements), raising=False
    )
    _contacts(page, [(f"C{i}", None) for i in range(30)])
    resp = login_as("admin").get("/contactmodelview/export/")
    assert resp.is_streamed
    rows = _csv(resp)
    assert len(rows) == 31
    assert len({r[0] for r in rows[1:]}) == 30
    assert len(statements) >= 5  # 30 rows in batches of 7 (plus the count)


def _counting(execute, seen):
    def wrapper(*args, **kwargs):
        seen.append(args[0])
        return execute(*args, **kwargs)

    return wrapper
