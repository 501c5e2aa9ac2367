"""GraphClient against the real FakeGraph HTTP server: no mocks, real sockets and timeouts."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from app.devtools.fakegraph import FakeGraph
from app.messenger.client import (
    GraphClient,
    GraphError,
    InvalidMessageError,
    PermanentGraphError,
    ReauthRequiredError,
    RetryableGraphError,
    appsecret_proof,
    classify,
    client_from_config,
)

APP_SECRET = "test-app-secret"
TOKEN = "EAAGsecretPageTokenValue1234567890"
PAGE_ID = "1122334455"
PSID = "9988776655443322"


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph(app_secret=APP_SECRET, page_id=PAGE_ID, timeout_sleep=5) as fg:
        yield fg


@pytest.fixture
def client(fake: FakeGraph) -> Iterator[GraphClient]:
    with GraphClient(fake.base_url, "v21.0", APP_SECRET, connect_timeout=1, read_timeout=0.5) as c:
        yield c


def test_send_returns_mid_with_proof_and_metadata(fake: FakeGraph, client: GraphClient) -> None:
    mid = client.send_message(PAGE_ID, TOKEN, PSID, "hello", metadata="msg:42")

    assert mid.startswith("m_")
    [req] = fake.requests_log
    assert req["method"] == "POST"
    assert req["path"] == f"/v21.0/{PAGE_ID}/messages"
    assert req["query"]["access_token"] == TOKEN
    assert req["query"]["appsecret_proof"] == appsecret_proof(TOKEN, APP_SECRET)
    assert req["json"] == {
        "recipient": {"id": PSID},
        "messaging_type": "RESPONSE",
        "message": {"text": "hello", "metadata": "msg:42"},
    }


def test_send_human_agent_tag(fake: FakeGraph, client: GraphClient) -> None:
    client.send_message("me", TOKEN, PSID, "late reply", messaging_type="MESSAGE_TAG", tag="HUMAN_AGENT")
    body = fake.requests_log[-1]["json"]
    assert fake.requests_log[-1]["path"] == "/v21.0/me/messages"
    assert body["messaging_type"] == "MESSAGE_TAG"
    assert body["tag"] == "HUMAN_AGENT"


def test_wrong_app_secret_is_rejected_as_permanent(fake: FakeGraph) -> None:
    with (
        GraphClient(fake.base_url, "v21.0", "wrong-secret", read_timeout=2) as bad,
        pytest.raises(PermanentGraphError) as info,
    ):
        bad.send_message(PAGE_ID, TOKEN, PSID, "x")
    assert info.value.code == 100


def test_send_rejects_empty_and_too_long_text(client: GraphClient) -> None:
    with pytest.raises(InvalidMessageError):
        client.send_message(PAGE_ID, TOKEN, PSID)
    with pytest.raises(InvalidMessageError):
        client.send_message(PAGE_ID, TOKEN, PSID, "x" * 2001)


@pytest.mark.parametrize(
    ("code", "http_status", "expected"),
    [
        (1, 500, RetryableGraphError),
        (2, 503, RetryableGraphError),
        (4, 400, RetryableGraphError),
        (17, 400, RetryableGraphError),
        (32, 400, RetryableGraphError),
        (613, 400, RetryableGraphError),
        (500, 500, RetryableGraphError),
        (190, 400, ReauthRequiredError),
        (551, 400, PermanentGraphError),
        (10, 403, PermanentGraphError),
        (200, 403, PermanentGraphError),
        (100, 400, PermanentGraphError),
    ],
)
def test_error_codes_map_to_classes(
    fake: FakeGraph,
    client: GraphClient,
    code: int,
    http_status: int,
    expected: type[GraphError],
) -> None:
    fake.fail_next(code, http_status=http_status, subcode=2018001, message=f"boom {code}")
    with pytest.raises(expected) as info:
        client.send_message(PAGE_ID, TOKEN, PSID, "hi")
    err = info.value
    assert type(err) is expected
    assert err.code == code
    assert err.subcode == 2018001
    assert err.http_status == http_status
    assert err.fbtrace_id
    assert f"boom {code}" in err.message
    # The switch is consumed: the next call succeeds.
    assert client.send_message(PAGE_ID, TOKEN, PSID, "hi").startswith("m_")


def test_classify_fallbacks() -> None:
    assert classify(None, None) is RetryableGraphError  # network failure, no response
    assert classify(None, 502) is RetryableGraphError
    assert classify(12345, 400) is PermanentGraphError
    assert classify(12345, 500) is RetryableGraphError
    assert classify(190, 401) is ReauthRequiredError


def test_fail_next_count(fake: FakeGraph, client: GraphClient) -> None:
    fake.fail_next(613, count=2)
    for _ in range(2):
        with pytest.raises(RetryableGraphError):
            client.send_message(PAGE_ID, TOKEN, PSID, "hi")
    assert client.send_message(PAGE_ID, TOKEN, PSID, "hi")
    assert len(fake.requests_log) == 3


def test_timeout_is_retryable(fake: FakeGraph, client: GraphClient) -> None:
    fake.timeout_next(1, seconds=3)
    with pytest.raises(RetryableGraphError) as info:
        client.send_message(PAGE_ID, TOKEN, PSID, "hi")
    assert info.value.code is None
    assert info.value.http_status is None


def test_connection_refused_is_retryable() -> None:
    fg = FakeGraph()
    url = fg.start()
    fg.stop()  # nothing listens there any more
    with (
        GraphClient(url, "v21.0", APP_SECRET, connect_timeout=0.5, read_timeout=0.5) as c,
        pytest.raises(RetryableGraphError) as info,
    ):
        c.send_message(PAGE_ID, TOKEN, PSID, "hi")
    assert TOKEN not in str(info.value)
    assert TOKEN not in repr(info.value)


def test_non_json_502_is_retryable(fake: FakeGraph, client: GraphClient) -> None:
    fake.fail_next(None, http_status=502, raw_body="<html><body>Bad Gateway</body></html>")
    with pytest.raises(RetryableGraphError) as info:
        client.send_message(PAGE_ID, TOKEN, PSID, "hi")
    assert info.value.http_status == 502
    assert info.value.code is None


def test_token_never_in_exceptions_or_logs(
    fake: FakeGraph, client: GraphClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # includes urllib3's request lines, which carry the URL
    caplog.set_level(logging.DEBUG, logger="urllib3")
    caplog.set_level(logging.DEBUG, logger="app.messenger.client")
    proof = appsecret_proof(TOKEN, APP_SECRET)
    errors: list[BaseException] = []

    client.send_message(PAGE_ID, TOKEN, PSID, "ok")
    fake.fail_next(190, message=f"Error validating access token {TOKEN}")
    fake.fail_next(613)
    fake.fail_next(None, http_status=502, raw_body="not json")
    for _ in range(3):
        with pytest.raises(GraphError) as info:
            client.send_message(PAGE_ID, TOKEN, PSID, "hi")
        errors.append(info.value)
    fake.timeout_next(1, seconds=3)
    with pytest.raises(RetryableGraphError) as info:
        client.get_profile(PSID, TOKEN)
    errors.append(info.value)

    assert [type(e) for e in errors] == [
        ReauthRequiredError,
        RetryableGraphError,
        RetryableGraphError,
        RetryableGraphError,
    ]
    for err in errors:
        for text in (str(err), repr(err), err.message, str(err.args)):
            assert TOKEN not in text
            assert proof not in text
    assert caplog.records, "expected the client to log something"
    for record in caplog.records:
        rendered = record.getMessage()
        assert TOKEN not in rendered
        assert proof not in rendered
        assert PSID not in rendered  # only the PSID tail is logged
    assert TOKEN not in caplog.text


def test_get_profile(fake: FakeGraph, client: GraphClient) -> None:
    fake.profiles[PSID] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "profile_pic": "p",
        "locale": "en_GB",
    }
    profile = client.get_profile(PSID, TOKEN)
    assert profile["first_name"] == "Ada"
    assert profile["locale"] == "en_GB"
    req = fake.requests_log[-1]
    assert req["method"] == "GET"
    assert req["path"] == f"/v21.0/{PSID}"
    assert req["query"]["fields"] == "first_name,last_name,profile_pic,locale"
    assert req["query"]["appsecret_proof"] == appsecret_proof(TOKEN, APP_SECRET)


def test_profile_error_2018218_is_permanent(fake: FakeGraph, client: GraphClient) -> None:
    fake.profile_error(2018218)
    with pytest.raises(PermanentGraphError) as info:
        client.get_profile(PSID, TOKEN)
    assert info.value.code == 2018218
    fake.profile_error(None)
    assert client.get_profile(PSID, TOKEN)["first_name"]


def test_ids_for_pages(fake: FakeGraph, client: GraphClient) -> None:
    fake.ids_for_pages_map["asid-1"] = [
        {"id": "psid-a", "page": {"id": PAGE_ID, "name": "Shop"}},
        {"id": "psid-b", "page": {"id": "5566", "name": "Other"}},
    ]
    result = client.ids_for_pages("asid-1", TOKEN)
    assert [r["id"] for r in result] == ["psid-a", "psid-b"]
    assert result[0]["page"]["id"] == PAGE_ID
    assert fake.requests_log[-1]["path"] == "/v21.0/asid-1/ids_for_pages"


def test_client_from_config_defaults_and_values(fake: FakeGraph) -> None:
    c = client_from_config(
        {
            "GRAPH_API_BASE": fake.base_url + "/",
            "FB_APP_SECRET": APP_SECRET,
            "FB_APP_ID": "42",
        }
    )
    assert c.version == "v25.0"
    assert c.base_url == fake.base_url
    assert c.timeout == (3.05, 10.0)
    assert c.app_id == "42"
    assert c.send_message(PAGE_ID, TOKEN, PSID, "hi").startswith("m_")
    c.close()
    c2 = client_from_config(
        {
            "GRAPH_API_VERSION": "v19.0",
            "GRAPH_TIMEOUT_CONNECT": "1",
            "GRAPH_TIMEOUT_READ": "2",
        }
    )
    assert c2.base_url == "https://graph.facebook.com"
    assert c2.version == "v19.0"
    assert c2.timeout == (1.0, 2.0)
    c2.close()


def test_upload_attachment_and_send_by_id(fake: FakeGraph, client: GraphClient) -> None:
    data = b"%PDF-1.4 tiny"
    attachment_id = client.upload_attachment(PAGE_ID, TOKEN, "file", ("menu.pdf", data, "application/pdf"))
    [upload] = fake.attachment_uploads
    assert upload["attachment_id"] == attachment_id
    assert (upload["type"], upload["filename"], upload["content_type"], upload["size"]) == (
        "file",
        "menu.pdf",
        "application/pdf",
        len(data),
    )
    assert upload["is_reusable"] is True
    assert upload["platform"] is None
    assert fake.requests_log[-1]["path"] == f"/v21.0/{PAGE_ID}/message_attachments"
    assert "appsecret_proof" in fake.requests_log[-1]["query"]
    attachment = {"type": "file", "payload": {"attachment_id": attachment_id}}
    assert client.send_message(PAGE_ID, TOKEN, PSID, attachment=attachment).startswith("m_")
    with pytest.raises(PermanentGraphError, match="Invalid attachment_id"):
        client.send_message(PAGE_ID, TOKEN, PSID, attachment={"type": "file", "payload": {"attachment_id": "404"}})
    client.upload_attachment(PAGE_ID, TOKEN, "image", ("a.png", b"\x89PNG", "image/png"), platform="instagram")
    assert fake.attachment_uploads[-1]["platform"] == "instagram"


def test_upload_errors_are_classified(fake: FakeGraph, client: GraphClient) -> None:
    fake.fail_next(613, path="/message_attachments")
    with pytest.raises(RetryableGraphError):
        client.upload_attachment(PAGE_ID, TOKEN, "file", ("a.pdf", b"%PDF-", "application/pdf"))
    fake.fail_next(190, path="/message_attachments")
    client.send_message(PAGE_ID, TOKEN, PSID, "a send is not the upload: not failed")
    with pytest.raises(ReauthRequiredError):
        client.upload_attachment(PAGE_ID, TOKEN, "file", ("a.pdf", b"%PDF-", "application/pdf"))
    assert fake.attachment_uploads == []


def test_sender_actions(fake: FakeGraph, client: GraphClient) -> None:
    client.send_sender_action(PAGE_ID, TOKEN, PSID, "typing_on")
    client.send_sender_action(PAGE_ID, TOKEN, PSID, "mark_seen")
    assert [a["action"] for a in fake.sender_actions] == ["typing_on", "mark_seen"]
    assert fake.requests_log[-1]["json"] == {"recipient": {"id": PSID}, "sender_action": "mark_seen"}
    with pytest.raises(PermanentGraphError, match="Invalid sender_action"):
        client.send_sender_action(PAGE_ID, TOKEN, PSID, "dance")
