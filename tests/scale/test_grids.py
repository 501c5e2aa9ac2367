"""Grids at scale: estimated counts above a threshold, exact below, constant queries per page."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, text

import app.web.grids as grids
from app import db
from app.contacts.models import Contact
from app.conversations.models import Conversation, Message
from app.core.models import utcnow
from app.pages.models import Page
from app.web.grids import EstimatedCount, EstimatedCountInterface, smart_count

_SEQ = itertools.count()
RECORD_COUNT = re.compile(r"Record Count:</strong>\s*([^<\n]+)")


def is_postgres() -> bool:
    return db.engine.dialect.name == "postgresql"


def add_contacts(n: int, pages: int = 1, first_name: str = "Bob") -> list[Contact]:
    page_rows = [Page(fb_page_id=f"fbp-{next(_SEQ)}", name=f"Page {i}") for i in range(pages)]
    db.session.add_all(page_rows)
    now = utcnow()
    contacts = [
        Contact(
            page=page_rows[i % pages],
            psid=f"psid-{next(_SEQ)}",
            first_name=first_name,
            last_name=f"Last{i}",
            last_inbound_at=now - timedelta(minutes=i),
        )
        for i in range(n)
    ]
    db.session.add_all(contacts)
    db.session.commit()
    return contacts


@contextmanager
def counted_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", before)


def grid_view(app, name: str):
    return next(v for v in app.appbuilder.baseviews if type(v).__name__ == name)


@pytest.fixture
def low_threshold(app) -> Iterator[None]:
    """Make the contacts grid estimate above 10 rows (the real threshold is 10,000)."""
    datamodel = grid_view(app, "ContactModelView").datamodel
    assert isinstance(datamodel, EstimatedCountInterface)
    old = datamodel.count_threshold
    datamodel.count_threshold = 10
    yield
    datamodel.count_threshold = old


def test_estimated_count_reads_as_about_and_still_counts() -> None:
    count = EstimatedCount(1_234_567)
    assert str(count) == "about 1,200,000"
    assert count.__html__() == "about 1,200,000"
    assert count // 25 == 49_382
    assert count > 0
    assert json.dumps({"count": count}) == '{"count": 1234567}'
    assert str(EstimatedCount(42)) == "about 42"


def test_small_grid_shows_the_exact_count(app, login_as) -> None:
    add_contacts(30)
    html = login_as("manager").get("/contactmodelview/list/").get_data(as_text=True)
    assert RECORD_COUNT.search(html).group(1).strip() == "30"


def test_big_grid_shows_about_n_on_postgresql(app, login_as, low_threshold) -> None:
    add_contacts(30)
    html = login_as("manager").get("/contactmodelview/list/").get_data(as_text=True)
    shown = RECORD_COUNT.search(html).group(1).strip()
    if is_postgres():
        assert re.fullmatch(r"about [\d,]+", shown), shown
        assert int(shown.split()[1].replace(",", "")) >= 11
    else:  # no planner estimate on SQLite: always exact
        assert shown == "30"


def test_smart_count_is_exact_up_to_the_threshold_and_filtered(app) -> None:
    add_contacts(12, first_name="Anabel")
    add_contacts(8, first_name="Bob")
    if is_postgres():  # the planner's estimate relies on statistics (autovacuum keeps them)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE contact")
    query = db.session.query(Contact).filter(Contact.first_name.ilike("%nab%"))
    assert smart_count(db.session, query, threshold=100) == 12
    assert type(smart_count(db.session, query, threshold=100)) is int
    above = smart_count(db.session, query, threshold=5)
    if is_postgres():
        assert isinstance(above, EstimatedCount)
        assert above >= 6
    else:
        assert above == 12


def test_name_search_and_page_filter_return_the_right_rows(app, login_as) -> None:
    add_contacts(3, first_name="Anabel")
    others = add_contacts(4, first_name="Bob")
    client = login_as("manager")
    html = client.get("/contactmodelview/list/?_flt_2_first_name=nab").get_data(as_text=True)
    assert "Anabel" in html
    assert "Bob" not in html
    assert RECORD_COUNT.search(html).group(1).strip() == "3"
    page_id = others[0].page_id
    html = client.get(f"/contactmodelview/list/?_flt_0_page={page_id}").get_data(as_text=True)
    assert RECORD_COUNT.search(html).group(1).strip() == "4"
    assert "Anabel" not in html


@pytest.mark.parametrize("path", ["/contactmodelview/list/", "/conversationmodelview/list/", "/messagemodelview/list/"])
def test_grid_page_issues_a_constant_number_of_queries(app, login_as, path) -> None:
    client = login_as("manager")
    manager_id = app.appbuilder.sm.find_user(username="manager").id

    def fill(n: int, pages: int) -> None:
        for c in add_contacts(n, pages=pages, first_name=f"N{n}"):
            conv = Conversation(page_id=c.page_id, contact=c, last_message_at=utcnow(), assignee_id=manager_id)
            db.session.add(conv)
            db.session.add(Message(conversation=conv, direction="in", text="hello", status="received"))
        db.session.commit()

    fill(2, pages=1)
    client.get(path)  # warm caches (menu, permissions) so both runs are alike
    with counted_queries() as few:
        assert client.get(path).status_code == 200
    fill(24, pages=4)
    client.get(path)
    with counted_queries() as many:
        resp = client.get(path)
    assert resp.status_code == 200
    assert len(many) == len(few), (few, many)


def test_deep_pages_return_the_same_rows_in_order(app, login_as, monkeypatch) -> None:
    """Past DEFERRED_JOIN_OFFSET the page is found on keys first: same rows, same order."""

    monkeypatch.setattr(grids, "DEFERRED_JOIN_OFFSET", 10)
    contacts = add_contacts(60)
    same_time = contacts[40].last_inbound_at
    for c in contacts[30:45]:  # ties: FAB orders by id as well
        c.last_inbound_at = same_time
    db.session.commit()
    expected = [c.psid for c in sorted(contacts, key=lambda c: (c.last_inbound_at, c.id), reverse=True)][25:50]
    html = login_as("manager").get("/contactmodelview/list/?page_ContactModelView=1").get_data(as_text=True)
    shown = re.findall(r"psid-\d+", html)
    assert shown == expected


def test_short_first_page_shows_the_exact_count(app, login_as, low_threshold) -> None:
    """A stale estimate (planner guesses hundreds of rows) never contradicts a short page."""
    add_contacts(3)
    html = login_as("manager").get("/contactmodelview/list/").get_data(as_text=True)
    assert RECORD_COUNT.search(html).group(1).strip() == "3"


def test_rest_list_counts_like_the_grid(app, client, api) -> None:
    """GET /api/v1/contact/: exact below the threshold, the planner's estimate above (PostgreSQL)."""
    add_contacts(30)
    headers = api("manager")
    body = client.get("/api/v1/contact/", headers=headers).get_json()
    assert (body["count"], body["count_estimated"]) == (30, False)
    contact_api = next(v for v in app.appbuilder.baseviews if type(v).__name__ == "ContactApi")
    assert isinstance(contact_api.datamodel, EstimatedCountInterface)
    old = contact_api.datamodel.count_threshold
    contact_api.datamodel.count_threshold = 10
    try:
        db.session.execute(text("ANALYZE contact") if is_postgres() else text("SELECT 1"))
        body = client.get("/api/v1/contact/?q=(page_size:5)", headers=headers).get_json()
    finally:
        contact_api.datamodel.count_threshold = old
    assert len(body["result"]) == 5
    if is_postgres():
        assert body["count_estimated"] is True
        assert body["count"] >= 11
    else:  # no planner estimate on SQLite: always exact
        assert (body["count"], body["count_estimated"]) == (30, False)
