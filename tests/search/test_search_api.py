"""REST `GET /api/v1/conversation/search` and the inbox's `q=`: answers, bad input, permissions."""

from __future__ import annotations

import pytest

from app import db
from app.conversations.models import Message
from app.core.models import utcnow

URL = "/api/v1/conversation/search"


def _message(conversation, text: str) -> int:
    m = Message(conversation_id=conversation.id, direction="in", text=text, status="received", created_at=utcnow())
    db.session.add(m)
    db.session.commit()
    return m.id


def test_search_answers_count_and_results(client, api, conversation):
    mid = _message(conversation, "My order 4711 never arrived")
    _message(conversation, "hello")
    resp = client.get(URL, query_string={"text": "ORDER arrived"}, headers=api("agent"))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["count"] == 1
    [hit] = body["result"]
    assert hit["conversation_id"] == conversation.id
    assert hit["message_id"] == mid
    assert hit["created_at"].startswith(utcnow().date().isoformat())
    assert client.get(URL, query_string={"text": "order parcel"}, headers=api("agent")).get_json() == {
        "count": 0,
        "result": [],
    }


def test_aware_times_are_compared_in_utc(client, api, conversation):
    _message(conversation, "timezone check")
    later = (utcnow().replace(microsecond=0)).isoformat() + "-05:00"  # five hours after now, in UTC
    resp = client.get(URL, query_string={"text": "timezone", "until": later}, headers=api("agent"))
    assert resp.get_json()["count"] == 1
    resp = client.get(URL, query_string={"text": "timezone", "since": later}, headers=api("agent"))
    assert resp.get_json()["count"] == 0


def test_paging_and_filters_in_the_api(client, api, conversation, page):
    _message(conversation, "duplicate charge")
    resp = client.get(
        URL,
        query_string={"text": "charge", "page": 0, "page_size": 1, "page_id": page.id, "since": "2000-01-01"},
        headers=api("manager"),
    )
    assert resp.status_code == 200
    assert resp.get_json()["count"] == 1
    resp = client.get(URL, query_string={"text": "charge", "page": 1, "page_size": 1}, headers=api("admin"))
    assert resp.get_json() == {"count": 1, "result": []}


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ({}, "text is required"),
        ({"text": "   "}, "text is required"),
        ({"text": "x" * 201}, "too long"),
        ({"text": "the a and !!"}, "no searchable word"),
        ({"text": " ".join(f"word{i}" for i in range(9))}, "too many words"),
        ({"text": "ok", "page": "-1"}, "page must be"),
        ({"text": "ok", "page": "abc"}, "page must be"),
        ({"text": "ok", "page_size": "0"}, "page_size must be"),
        ({"text": "ok", "page_size": "101"}, "page_size must be"),
        ({"text": "ok", "page_id": "99999999999"}, "page_id must be"),
        ({"text": "ok", "channel": "sms"}, "channel must be"),
        ({"text": "ok", "since": "yesterday"}, "since must be a date"),
        ({"text": "ok", "until": "9999-12-31"}, "until must be a date"),
        ({"text": "ok", "since": "0001-01-01T00:00:00+05:00"}, "since must be a date"),
        ({"text": "ok", "since": "2024-02-02", "until": "2024-01-01"}, "since must be before until"),
    ],
)
def test_bad_input_is_a_400_with_the_reason(client, api, args, reason):
    resp = client.get(URL, query_string=args, headers=api("agent"))
    assert resp.status_code == 400
    assert reason in resp.get_json()["message"]


def test_nul_in_text_is_refused_by_the_guard(client, api):
    resp = client.get(URL, query_string={"text": "ok\x00"}, headers=api("agent"))
    assert resp.status_code == 400


def test_privacy_officer_and_anonymous_cannot_search(client, api, conversation):
    _message(conversation, "secret words")
    assert client.get(URL, query_string={"text": "secret"}, headers=api("privacy")).status_code == 403
    assert client.get(URL, query_string={"text": "secret"}).status_code == 401


def test_the_search_is_in_the_openapi_document(client, api):
    spec = client.get("/api/v1/_openapi", headers=api("admin")).get_json()
    operation = spec["paths"]["/api/v1/conversation/search"]["get"]  # so the API fuzz test sends to it
    assert [p["name"] for p in operation["parameters"]] == [
        "text",
        "page",
        "page_size",
        "page_id",
        "channel",
        "since",
        "until",
    ]


def test_inbox_has_a_search_box_and_q_shows_results(client, login_as, conversation):
    mid = _message(conversation, "Le colis est arrivé abîmé")
    login_as("agent")
    inbox = client.get("/conversations/")
    assert inbox.status_code == 200
    assert 'name="q"' in inbox.get_data(as_text=True)
    resp = client.get("/conversations/", query_string={"q": "colis abime"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "1 conversation with a message holding every word" in html
    assert f"/conversations/{conversation.id}#msg-{mid}" in html
    assert "Ada Lovelace" in html
    assert utcnow().strftime("%Y-%m-%d") in html
    empty = client.get("/conversations/", query_string={"q": "colis chat"}).get_data(as_text=True)
    assert "No message holds every one of these words." in empty


def test_inbox_search_escapes_the_query_and_flashes_bad_input(client, login_as, conversation):
    login_as("agent")
    html = client.get("/conversations/", query_string={"q": "<script>alert(1)</script>"}).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    resp = client.get("/conversations/", query_string={"q": "the !!"})
    assert resp.status_code == 200
    assert "no searchable word" in resp.get_data(as_text=True)


def test_privacy_officer_cannot_use_the_inbox_search(client, login_as, conversation):
    login_as("privacy")
    resp = client.get("/conversations/", query_string={"q": "anything"})
    assert resp.status_code in (302, 403)
