"""Malformed requests to the REST API are a 4xx with a JSON reason, never a 500.

One test per cause the fuzzer found (ids past the integer range, negative or fractional pages,
rison the parser chokes on, foreign keys naming no row, duplicates, text PostgreSQL cannot
store, numbers no column holds, empty ids), on both backends with the same status; and the
other side of the rule: a real bug is still a 500 with its traceback in the log.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy.exc import DataError, IntegrityError

from app import db
from app.conversations import services
from app.privacy import decisions
from app.privacy.requests import create_request
from app.web.api_guard import database_refusal

BIG_ID = "16436458822371"  # past PostgreSQL's integer
HUGE_ID = "9" * 27


def _json_reason(resp: Any) -> Any:
    assert resp.is_json, resp.get_data(as_text=True)[:300]
    body = resp.get_json()
    assert body["message"], body
    return body["message"]


@pytest.fixture
def admin(api) -> dict[str, str]:
    return api("admin")


@pytest.fixture
def privacy_request(contact):

    req = create_request("access", contact, source="staff")
    db.session.commit()
    return req


# -- ids in the path ----------------------------------------------------------------------


@pytest.mark.parametrize("pk", [BIG_ID, HUGE_ID])
@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/contact/{pk}"),
        ("put", "/api/v1/contact/{pk}"),
        ("delete", "/api/v1/contact/{pk}"),
        ("get", "/api/v1/page/{pk}"),
        ("get", "/api/v1/message/{pk}"),
        ("get", "/api/v1/audit_log/{pk}"),
        ("get", "/api/v1/privacy_request/{pk}"),
        ("put", "/api/v1/conversation/{pk}"),
        ("post", "/api/v1/conversation/{pk}/reply"),
        ("post", "/api/v1/privacy_request/{pk}/approve"),
        ("post", "/api/v1/privacy_request/{pk}/deny"),
    ],
)
def test_an_id_past_the_integer_range_is_not_found(client, admin, method: str, url: str, pk: str) -> None:
    resp = getattr(client, method)(url.format(pk=pk), json={"text": "hi", "reason": "no"}, headers=admin)
    assert resp.status_code == 404
    assert _json_reason(resp) == "Not found"


def test_an_id_past_the_range_is_not_found_for_an_agent_too(client, api) -> None:
    resp = client.get(f"/api/v1/conversation/{HUGE_ID}", headers=api("agent"))
    assert resp.status_code == 404


@pytest.mark.parametrize("pk", ["abc", "1.5", "%20", "1e3", "%D9%A1"])
def test_an_id_that_is_not_an_integer_is_a_bad_request(client, admin, pk: str) -> None:
    resp = client.put(f"/api/v1/contact/{pk}", json={"first_name": "Ada"}, headers=admin)
    assert resp.status_code == 400
    assert "integer" in _json_reason(resp)


def test_routing_errors_under_the_api_answer_in_json(client, admin) -> None:
    missing = client.post("/api/v1/conversation/-1/reply", json={"text": "hi"}, headers=admin)
    assert missing.status_code == 404
    _json_reason(missing)
    wrong_method = client.get("/api/v1/contact/abc", headers=admin)
    assert wrong_method.status_code == 405
    _json_reason(wrong_method)
    assert "PUT" in wrong_method.headers["Allow"]


# -- the rison `q` argument ---------------------------------------------------------------


@pytest.mark.parametrize(
    "q",
    [
        "(page:-1)",
        "(page_size:-5)",
        "(page:-1,page_size:-1)",
        "(page:1.5)",
        "(page:1.0)",
        "(page:!t)",
        "(page:1e999)",
        "(page:99999999999999999999)",
    ],
)
@pytest.mark.parametrize("resource", ["contact", "message", "conversation", "page", "audit_log", "privacy_request"])
def test_bad_paging_is_a_bad_request(client, admin, resource: str, q: str) -> None:
    resp = client.get(f"/api/v1/{resource}/", query_string={"q": q}, headers=admin)
    assert resp.status_code == 400
    assert "page" in _json_reason(resp)


def test_related_paging_in_info_is_checked_too(client, admin) -> None:
    resp = client.get("/api/v1/contact/_info", query_string={"q": "(add_columns:(page_id:(page:-1)))"}, headers=admin)
    assert resp.status_code == 400


@pytest.mark.parametrize(
    "q",
    [
        "1.7976931348623157e",
        "(page:1.7976931348623157e)",
        "(filters:!((col:first_name,opr:eq,value:0.5e)))",
        "!",
        "(page:--1)",
        "(" * 3000,
        "(",
    ],
)
def test_rison_the_parser_chokes_on_is_a_bad_request(client, admin, q: str) -> None:
    resp = client.get("/api/v1/contact/", query_string={"q": q}, headers=admin)
    assert resp.status_code == 400
    assert "q is not valid" in _json_reason(resp)


def test_json_in_q_is_still_accepted(client, admin, contact) -> None:
    resp = client.get("/api/v1/contact/", query_string={"q": '{"page": 0, "page_size": 5}'}, headers=admin)
    assert resp.status_code == 200
    assert resp.get_json()["count"] == 1


@pytest.mark.parametrize(
    "q",
    ["(filters:!((col:first_name,opr:eq,value:'a\x00b')))", "(order_column:'id\x00')", "(columns:!('\x00'))"],
)
def test_nul_in_q_is_a_bad_request(client, admin, q: str) -> None:
    resp = client.get("/api/v1/contact/", query_string={"q": q}, headers=admin)
    assert resp.status_code == 400
    assert "NUL" in _json_reason(resp)


def test_a_filter_value_of_the_wrong_type_is_no_server_error(client, admin, contact) -> None:
    q = "(filters:!((col:page_id,opr:eq,value:abc)))"
    resp = client.get("/api/v1/contact/", query_string={"q": q}, headers=admin)
    assert resp.status_code == 200
    assert resp.get_json()["count"] == 0


# -- references, duplicates -----------------------------------------------------------------


def test_a_page_id_that_does_not_exist_is_refused(client, admin, page) -> None:
    resp = client.post("/api/v1/contact/", json={"page_id": page.id + 1000, "psid": "1"}, headers=admin)
    assert resp.status_code == 422
    assert _json_reason(resp) == {"page_id": ["no such page"]}


def test_an_assignee_that_does_not_exist_is_refused(client, admin, conversation) -> None:
    resp = client.put(f"/api/v1/conversation/{conversation.id}", json={"assignee_id": 99999}, headers=admin)
    assert resp.status_code == 422
    assert _json_reason(resp) == {"assignee_id": ["no such user"]}


def test_a_contact_id_that_does_not_exist_is_refused(client, admin) -> None:
    resp = client.post("/api/v1/privacy_request/", json={"request_type": "access", "contact_id": 99999}, headers=admin)
    assert resp.status_code == 422


def test_a_duplicate_fb_page_id_is_a_conflict(client, admin, page) -> None:
    body = {"fb_page_id": page.fb_page_id, "name": "Twin", "access_token": "EAAanothertoken5678ABCD"}
    resp = client.post("/api/v1/page/", json=body, headers=admin)
    assert resp.status_code == 409
    assert _json_reason(resp) == "fb_page_id: already taken by another record"
    # the session was rolled back: the next request works
    assert client.get(f"/api/v1/page/{page.id}", headers=admin).status_code == 200


def test_a_duplicate_contact_is_a_conflict(client, admin, contact) -> None:
    resp = client.post("/api/v1/contact/", json={"page_id": contact.page_id, "psid": contact.psid}, headers=admin)
    assert resp.status_code == 409
    assert _json_reason(resp) == "page_id, psid: already taken by another record"


def test_a_page_without_a_token_is_refused(client, admin) -> None:
    resp = client.post("/api/v1/page/", json={"fb_page_id": "555", "name": "No token"}, headers=admin)
    assert resp.status_code == 422
    assert "access_token" in str(_json_reason(resp))


def test_editing_a_page_without_its_write_only_token_keeps_it(client, admin, page) -> None:
    resp = client.put(f"/api/v1/page/{page.id}", json={"name": "Renamed"}, headers=admin)
    assert resp.status_code == 200
    db.session.refresh(page)
    assert page.name == "Renamed"
    assert page.token_last4 == "WXYZ"


# -- text and numbers in the body --------------------------------------------------------------


@pytest.mark.parametrize("text", ["nul\x00byte", "lone \ud800 surrogate", "\udfff"])
def test_text_postgresql_cannot_store_is_a_bad_request(client, admin, conversation, privacy_request, text: str) -> None:
    calls = [
        ("post", "/api/v1/contact/", {"page_id": conversation.page_id, "psid": text}),
        ("put", f"/api/v1/contact/{conversation.contact_id}", {"first_name": text}),
        ("post", f"/api/v1/conversation/{conversation.id}/reply", {"text": text}),
        ("post", f"/api/v1/privacy_request/{privacy_request.id}/deny", {"reason": text}),
        ("post", "/api/v1/page/", {"fb_page_id": "77", "name": "x", "access_token": text}),
        ("put", f"/api/v1/contact/{conversation.contact_id}", {text: "key"}),
    ]
    for method, url, body in calls:
        resp = getattr(client, method)(url, json=body, headers=admin)
        assert resp.status_code == 400, (url, resp.get_data(as_text=True))
        assert "text may not contain" in _json_reason(resp)


def test_nul_in_a_query_argument_is_a_bad_request(client, admin) -> None:
    resp = client.get("/api/v1/contact/", query_string={"x": "a\x00"}, headers=admin)
    assert resp.status_code == 400


def test_odd_but_valid_unicode_is_stored(client, admin, page) -> None:
    name = "Zoë \u202eRTL\u202c 😀 e\u0301 \ufeff\u200b 𝔘"
    resp = client.post("/api/v1/contact/", json={"page_id": page.id, "psid": "u1", "first_name": name}, headers=admin)
    assert resp.status_code == 201
    shown = client.get(f"/api/v1/contact/{resp.get_json()['id']}", headers=admin).get_json()
    assert shown["result"]["first_name"] == name


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"page_id": 1, "psid": "n", "first_name": NaN}', "finite"),
        ('{"page_id": 1, "psid": "n", "first_name": Infinity}', "finite"),
        ('{"page_id": 100000000000000000000000000, "psid": "n"}', "out of range"),
        ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ],
)
def test_numbers_no_column_holds_are_a_bad_request(client, admin, page, raw: str, reason: str) -> None:
    resp = client.post("/api/v1/contact/", data=raw, content_type="application/json", headers=admin)
    assert resp.status_code == 400
    assert reason in _json_reason(resp)


@pytest.mark.parametrize("page_id", [1.5, 1.0, "", "1", "abc", None, True, [1], {"id": 1}])
def test_a_page_id_of_the_wrong_type_is_refused(client, admin, page, page_id: Any) -> None:
    resp = client.post("/api/v1/contact/", json={"page_id": page_id, "psid": "w"}, headers=admin)
    assert resp.status_code == 422
    assert "page_id" in _json_reason(resp)


def test_a_page_id_past_the_integer_range_is_refused(client, admin, page) -> None:
    resp = client.post("/api/v1/contact/", json={"page_id": 2**40, "psid": "w"}, headers=admin)
    assert resp.status_code == 422
    assert _json_reason(resp) == {"page_id": ["no such page"]}


@pytest.mark.parametrize("contact_id", ["", 1.5, None])
def test_an_empty_or_fractional_contact_id_is_refused(client, admin, contact_id: Any) -> None:
    body = {"request_type": "access", "contact_id": contact_id}
    resp = client.post("/api/v1/privacy_request/", json=body, headers=admin)
    assert resp.status_code == 400
    assert "contact_id" in _json_reason(resp)


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "null", "{"])
def test_an_edit_that_is_not_a_json_object_is_refused(client, admin, contact, body: str) -> None:
    resp = client.put(f"/api/v1/contact/{contact.id}", data=body, content_type="application/json", headers=admin)
    assert resp.status_code == (400 if body == "{" else 422)
    _json_reason(resp)


# -- database refusals in custom actions, and real bugs --------------------------------------------


class _Orig(Exception):
    def __init__(self, text: str, sqlstate: str | None = None) -> None:
        super().__init__(text)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (IntegrityError("INSERT", {}, _Orig("UNIQUE constraint failed: page.fb_page_id")), 409),
        (IntegrityError("INSERT", {}, _Orig("Key (mid)=(m.1) already exists.", "23505")), 409),
        (IntegrityError("INSERT", {}, _Orig("violates foreign key constraint", "23503")), 422),
        (IntegrityError("INSERT", {}, _Orig("NOT NULL constraint failed: page.name")), 422),
        (DataError("SELECT", {}, _Orig("integer out of range", "22003")), 400),
    ],
)
def test_a_database_refusal_in_a_custom_action_is_the_clients(
    client, admin, monkeypatch, privacy_request, exc: Exception, status: int
) -> None:

    def refused(*args: Any, **kwargs: Any) -> None:
        raise exc

    monkeypatch.setattr(decisions, "approve", refused)
    resp = client.post(f"/api/v1/privacy_request/{privacy_request.id}/approve", headers=admin)
    assert resp.status_code == status
    message = _json_reason(resp)
    assert "INSERT" not in message
    assert "SELECT" not in message


def test_refusal_reasons_name_columns_not_values() -> None:
    exc = IntegrityError("INSERT", {}, _Orig("Key (fb_page_id)=(secret-42) already exists.", "23505"))
    assert database_refusal(exc) == (409, "fb_page_id: already taken by another record")
    assert database_refusal(RuntimeError("boom")) is None


def test_a_bug_is_still_a_500_with_a_logged_traceback(client, api, conversation, monkeypatch, caplog) -> None:

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("a stray bug")

    monkeypatch.setattr(services, "queue_reply", broken)
    with caplog.at_level(logging.ERROR):
        resp = client.post(f"/api/v1/conversation/{conversation.id}/reply", json={"text": "hi"}, headers=api("agent"))
    assert resp.status_code == 500
    assert resp.get_json() == {"message": "Fatal error"}
    logged = [r for r in caplog.records if r.exc_info and isinstance(r.exc_info[1], RuntimeError)]
    assert logged, "the traceback was not logged"
    # the session was rolled back: the next request works
    assert client.get(f"/api/v1/conversation/{conversation.id}", headers=api("agent")).status_code == 200


# -- FAB's security API gets the same guard -----------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"username": "admin", "password": "correct-horse-battery"}, 400),
        ({"username": "ad\x00min", "password": "x", "provider": "db"}, 400),
        ({"username": "\ud800", "password": "x", "provider": "db"}, 400),
        ({"username": "admin", "password": "wrong-password-1", "provider": "db"}, 401),
    ],
)
def test_a_malformed_login_is_a_bad_request(client, body: dict[str, Any], status: int) -> None:
    resp = client.post("/api/v1/security/login", json=body)
    assert resp.status_code == status
    _json_reason(resp)
