"""FAB's CRUD flashes read as plain words naming the record, in every grid."""

from __future__ import annotations

from app.contacts.views import ContactModelView
from app.privacy.views import PrivacyRequestModelView
from app.web.flash_messages import record_name
from tests.helpers import csrf_token_from


def test_record_names_come_from_the_model():
    assert record_name(ContactModelView.__new__(ContactModelView)) == "Contact"
    assert record_name(object()) == "Record"
    assert record_name(PrivacyRequestModelView.__new__(PrivacyRequestModelView)) == "Privacy request"


def test_every_grid_speaks_plain_words(app):
    for view in app.appbuilder.baseviews:
        if hasattr(view, "add_row_message"):
            for attr in ("add_row_message", "edit_row_message", "delete_row_message", "database_error_message"):
                text = str(getattr(view, attr))
                assert text not in ("Added Row", "Changed Row", "Deleted Row", "Database Error"), (view, attr)


def test_editing_a_contact_flashes_contact_saved(login_as, contact):
    client = login_as("manager")
    form = client.get(f"/contactmodelview/edit/{contact.id}")
    assert form.status_code == 200
    resp = client.post(
        f"/contactmodelview/edit/{contact.id}",
        data={"csrf_token": csrf_token_from(form.get_data(as_text=True)), "first_name": "Ada", "last_name": "King"},
    )
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Contact saved." in page
    assert "Changed Row" not in page
