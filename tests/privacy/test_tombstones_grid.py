"""Erased contacts in the contacts grid: hidden by default, shown read-only on request."""

from __future__ import annotations

from app import db
from app.contacts.models import Contact
from app.core.models import utcnow


def _tombstone(contact: Contact) -> Contact:
    tomb = Contact(page=contact.page, psid=None, erased_at=utcnow(), restricted=True)
    db.session.add(tomb)
    db.session.commit()
    return tomb


def test_grid_hides_erased_contacts_by_default(login_as, contact):
    tomb = _tombstone(contact)
    html = login_as("admin").get("/contactmodelview/list/").get_data(as_text=True)
    assert "Ada Lovelace" in html
    assert "Erased contact" not in html
    assert f"/contactmodelview/edit/{tomb.id}" not in html
    assert "Show erased contacts" in html
    assert "None" not in html.split('id="erased-filter"')[1]  # empty cells read "—", booleans Yes/No


def test_filter_shows_tombstones_read_only(login_as, contact):
    tomb = _tombstone(contact)
    resp = login_as("admin").get("/contactmodelview/list/?erased=1")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    label = f"Erased contact ({tomb.erased_at.strftime('%d %B %Y')})"
    assert label in html
    assert "[erased contact]" not in html
    assert "None None False" not in html
    assert f"/contactmodelview/show/{tomb.id}" in html
    assert f"/contactmodelview/edit/{tomb.id}" not in html
    assert f"/contactmodelview/delete/{tomb.id}" not in html
    assert f"/contactmodelview/edit/{contact.id}" in html  # live contacts keep their buttons
    assert "Hide erased contacts" in html
