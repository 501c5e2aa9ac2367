"""The inbox pages its rows (`?p=N`, filters kept), says how many match, and has an empty state."""

from __future__ import annotations

import re
from datetime import timedelta

from app import db
from app.contacts.models import Contact
from app.conversations import services
from app.conversations.models import Conversation
from app.core.models import utcnow


def _open_conversations(page, count: int) -> list[Conversation]:
    start = utcnow() - timedelta(days=1)
    contacts = [Contact(page=page, psid=f"9{i:09d}", first_name=f"C{i:03d}") for i in range(count)]
    db.session.add_all(contacts)
    db.session.flush()
    convs = [
        Conversation(page_id=page.id, contact_id=c.id, status="open", last_message_at=start + timedelta(minutes=i))
        for i, c in enumerate(contacts)
    ]
    db.session.add_all(convs)
    db.session.commit()
    return convs


def _names(html: str) -> list[str]:
    return re.findall(r'href="/conversations/\d+">(C\d{3})</a>', html)


def test_inbox_pages_89_conversations_with_count_and_links(login_as, page):
    _open_conversations(page, 89)
    client = login_as("agent")

    first = client.get(f"/conversations/?status=open&page={page.id}")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    assert "1–50 of 89" in html
    assert len(_names(html)) == 50
    assert _names(html)[0] == "C000"  # longest waiting first
    assert "inbox-previous" not in html
    next_link = re.search(r'class="btn btn-default btn-xs inbox-next" rel="next" href="([^"]+)"', html)
    assert next_link is not None
    href = next_link.group(1).replace("&amp;", "&")
    assert "p=2" in href
    assert f"page={page.id}" in href  # the other filters are kept
    assert "status=open" in href

    second = client.get(href)
    assert second.status_code == 200
    html2 = second.get_data(as_text=True)
    assert "51–89 of 89" in html2
    assert len(_names(html2)) == 39
    assert set(_names(html)).isdisjoint(_names(html2))
    assert "inbox-next" not in html2
    assert re.search(r'inbox-previous" rel="prev" href="[^"]*p=1', html2)


def test_inbox_page_number_out_of_range_is_clamped(login_as, page):
    _open_conversations(page, 3)
    client = login_as("agent")
    for query in ("p=99", "p=0", "p=-4", "p=x"):
        resp = client.get(f"/conversations/?queue=all&{query}")
        assert resp.status_code == 200
        assert "1–3 of 3" in resp.get_data(as_text=True)


def test_inbox_empty_state(login_as):
    resp = login_as("agent").get("/conversations/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert "0 conversations" in html
    assert "No conversations match these filters." in html
    assert "inbox-next" not in html
    assert "inbox-previous" not in html


def test_inbox_count_stops_at_the_cap(page, monkeypatch):
    _open_conversations(page, 7)
    monkeypatch.setattr(services, "INBOX_COUNT_CAP", 5)
    listing = services.inbox(per_page=2, page=3)
    assert (listing.total, listing.capped) == (5, True)
    assert (listing.first, listing.last) == (5, 6)
    assert not listing.has_next  # pages stop at the cap
    assert services.inbox(per_page=2, page=99).page == 3


def test_unassigned_come_before_assigned_across_pages(page):
    convs = _open_conversations(page, 5)
    convs[0].assignee_id = convs[1].assignee_id = 1
    db.session.commit()
    ids = [c.id for p in (1, 2, 3) for c in services.inbox(page=p, per_page=2).rows]
    assert ids == [convs[i].id for i in (2, 3, 4, 0, 1)]
