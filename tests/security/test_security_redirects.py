"""User-supplied redirect targets (`next`) stay on this site; state changes need POST."""

from __future__ import annotations

import pytest

from app import db
from app.contacts.models import Contact
from app.web.urls import is_safe_path
from tests.helpers import csrf_token_from, login

EVIL = [
    "//evil.example",
    "https://evil.example/x",
    "\\\\evil.example",
    "/\\evil.example",
    "http:/evil",
    "",
    "javascript:alert(1)",
    " //evil.example",
]


@pytest.mark.parametrize("target", EVIL)
def test_unsafe_targets_are_refused(target):
    assert not is_safe_path(target)


@pytest.mark.parametrize("target", ["/conversations/5", "/contactmodelview/show/1?x=1#notes"])
def test_local_paths_are_kept(target):
    assert is_safe_path(target)


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "\\\\evil.example", "/\\evil.example"])
def test_notes_form_refuses_an_offsite_next(app, login_as, contact, target):
    client = login_as("agent")
    page = client.get(f"/contactmodelview/notes/{contact.id}").get_data(as_text=True)
    resp = client.post(
        f"/contactmodelview/notes/{contact.id}",
        data={"notes": "n", "tags": "", "next": target, "csrf_token": csrf_token_from(page)},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/contactmodelview/show/{contact.id}")


def test_notes_form_keeps_a_local_next(app, login_as, conversation):
    client = login_as("agent")
    contact_id = conversation.contact_id
    page = client.get(f"/contactmodelview/notes/{contact_id}").get_data(as_text=True)
    resp = client.post(
        f"/contactmodelview/notes/{contact_id}",
        data={"notes": "n", "next": f"/conversations/{conversation.id}", "csrf_token": csrf_token_from(page)},
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith(f"/conversations/{conversation.id}")


@pytest.mark.parametrize(
    "path",
    [
        "/conversations/{conv}/reply",
        "/conversations/{conv}/take",
        "/conversations/{conv}/assign",
        "/conversations/{conv}/status",
        "/contactmodelview/legal_hold/{contact}",
    ],
)
def test_state_changes_refuse_get(app, conversation, path):
    client = app.test_client()
    assert login(client, "admin").status_code == 302
    url = path.format(conv=conversation.id, contact=conversation.contact_id)
    assert client.get(url).status_code == 405


def test_grid_delete_by_get_does_nothing(app, login_as, contact):

    client = login_as("admin")
    client.get(f"/contactmodelview/delete/{contact.id}")
    db.session.expire_all()
    assert db.session.get(Contact, contact.id) is not None
