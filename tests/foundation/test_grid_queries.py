"""Grids issue a constant number of queries, however many rows a page shows."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.pages.models import Page
from tests.helpers import login


@contextmanager
def count_queries():
    counter = {"n": 0}

    def _count(*_args, **_kwargs):
        counter["n"] += 1

    event.listen(db.engine, "before_cursor_execute", _count)
    try:
        yield counter
    finally:
        event.remove(db.engine, "before_cursor_execute", _count)


def _add(page_id: int, start: int, count: int) -> None:
    page = db.session.get(Page, page_id)
    for i in range(start, start + count):
        c = Contact(page=page, psid=f"90{i}", first_name=f"N{i}", last_inbound_at=utcnow())
        conv = Conversation(page=page, contact=c, status="open", last_message_at=utcnow())
        db.session.add_all([c, conv, Message(conversation=conv, direction="in", text=f"t{i}", mid=f"m{i}")])
    db.session.commit()


def test_list_views_do_not_query_per_row(client, page):
    login(client, "admin")
    page_id = page.id
    paths = ["/contactmodelview/list/", "/conversationmodelview/list/", "/messagemodelview/list/"]
    _add(page.id, 0, 3)
    db.session.expunge_all()
    small = {}
    for path in paths:
        client.get(path)  # warm caches
        with count_queries() as q:
            assert client.get(path).status_code == 200
        small[path] = q["n"]
    _add(page_id, 3, 20)
    db.session.expunge_all()  # a fresh request starts with an empty identity map
    for path in paths:
        client.get(path)
        with count_queries() as q:
            assert client.get(path).status_code == 200
        assert q["n"] == small[path], f"{path}: {small[path]} queries with 3 rows, {q['n']} with 23"
