"""The fetch rules against a real HTTP server (the fake Graph's CDN): SSRF refusals, redirects,
size cap, content types, retries. A refused URL is never requested at all."""

from __future__ import annotations

import pytest

from app import db
from app.conversations.models import Message
from app.media import inbound
from app.media.exceptions import FetchFailed, FetchRefused
from app.media.fetch import fetch
from app.media.hosts import check_url
from app.media.models import MediaFile, MediaStatus
from tests.media.media_helpers import media_rows


def _hosts(cdn) -> str:
    return f".fbcdn.net,{cdn.base_url.split('://', 1)[1]}"


@pytest.mark.parametrize(
    ("url", "hosts", "reason"),
    [
        ("https://169.254.169.254/latest/meta-data/", ".fbcdn.net", "not in MEDIA_FETCH_HOSTS"),
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254", "private, loopback or link-local"),
        ("https://localhost/x.png", "localhost", "private, loopback or link-local"),
        ("https://10.0.0.8/x.png", "10.0.0.8", "private, loopback or link-local"),
        ("https://[::1]/x.png", "::1", "private, loopback or link-local"),
        ("https://127.0.0.1:8443/x.png", ".fbcdn.net,127.0.0.1", "not in MEDIA_FETCH_HOSTS"),
        ("http://scontent.xx.fbcdn.net/x.png", ".fbcdn.net", "only https"),
        ("ftp://scontent.xx.fbcdn.net/x.png", ".fbcdn.net", "only https"),
        ("https://user:pw@scontent.xx.fbcdn.net/x.png", ".fbcdn.net", "credentials"),
        ("https://fbcdn.net.evil.example/x.png", ".fbcdn.net", "not in MEDIA_FETCH_HOSTS"),
        ("https://evilfbcdn.net/x.png", ".fbcdn.net", "not in MEDIA_FETCH_HOSTS"),
        ("https://scontent.xx.fbcdn.net:8443/x.png", ".fbcdn.net", "not in MEDIA_FETCH_HOSTS"),
        ("https://example.com/x.png", ".fbcdn.net", "not in MEDIA_FETCH_HOSTS"),
    ],
)
def test_refused_urls(url, hosts, reason):
    with pytest.raises(FetchRefused, match=reason):
        check_url(url, hosts)


def test_a_listed_host_port_may_be_local_and_plain_http(cdn):
    target = check_url(cdn.cdn_url("a.png"), _hosts(cdn))
    assert (target.scheme, target.address, target.path) == ("http", "127.0.0.1", "/cdn/a.png")


def test_loopback_not_listed_is_never_requested(cdn):
    with pytest.raises(FetchRefused):
        fetch(cdn.cdn_url("a.png"), "image", ".fbcdn.net,127.0.0.1")
    assert cdn.cdn_hits() == []


def test_redirect_to_another_host_is_refused(cdn):
    url = cdn.cdn_url("a.png", redirect="https://169.254.169.254/latest/meta-data/")
    with pytest.raises(FetchRefused, match="not in MEDIA_FETCH_HOSTS"):
        fetch(url, "image", _hosts(cdn))
    assert len(cdn.cdn_hits()) == 1  # the first hop only


def test_redirect_within_the_allowed_host_is_followed(cdn):
    got = fetch(cdn.cdn_url("a.png", redirect=cdn.cdn_url("b.png")), "image", _hosts(cdn))
    assert got.content_type == "image/png"
    assert [hit.split("?")[0] for hit in cdn.cdn_hits()] == ["/cdn/a.png", "/cdn/b.png"]


def test_redirect_chains_are_capped(cdn):
    url = cdn.cdn_url("end.png")
    for hop in range(3):
        url = cdn.cdn_url(f"hop{hop}.png", redirect=url)
    assert fetch(url, "image", _hosts(cdn)).content_type == "image/png"  # three hops: allowed
    url = cdn.cdn_url("hop3.png", redirect=url)
    with pytest.raises(FetchRefused, match="more than 3 redirects"):
        fetch(url, "image", _hosts(cdn))


@pytest.mark.parametrize("nolength", [0, 1])
def test_size_cap(cdn, nolength):
    url = cdn.cdn_url("big.mp4", size=5000, **({"nolength": 1} if nolength else {}))
    with pytest.raises(FetchRefused, match="larger than 4096 bytes"):
        fetch(url, "video", _hosts(cdn), max_bytes=4096)
    assert len(fetch(url, "video", _hosts(cdn), max_bytes=5000).data) == 5000


@pytest.mark.parametrize(
    ("kind", "name", "ctype", "ok"),
    [
        ("image", "a.png", None, True),
        ("image", "a.png", "text/html", False),
        ("image", "a.png", "image/svg+xml", False),
        ("image", "a.png", "application/octet-stream", False),
        ("sticker", "a.png", None, True),
        ("video", "a.mp4", None, True),
        ("video", "a.mp4", "image/png", False),
        ("audio", "a.mp3", None, True),
        ("audio", "a.mp3", "video/mp4", False),
        ("file", "a.pdf", None, True),
        ("file", "a.pdf", "text/html; charset=utf-8", False),
        ("file", "a.txt", None, True),
    ],
)
def test_content_type_must_fit_the_attachment(cdn, kind, name, ctype, ok):
    url = cdn.cdn_url(name, **({"type": ctype} if ctype else {}))
    if ok:
        assert fetch(url, kind, _hosts(cdn)).data
    else:
        with pytest.raises(FetchRefused, match="does not fit"):
            fetch(url, kind, _hosts(cdn))


@pytest.mark.parametrize(("status", "retry"), [(500, True), (503, True), (429, True), (403, False), (404, False)])
def test_cdn_errors(cdn, status, retry):
    with pytest.raises(FetchFailed) as err:
        fetch(cdn.cdn_url("a.png", status=status), "image", _hosts(cdn))
    assert err.value.retry is retry


def test_network_error_is_retryable(cdn):
    port = cdn.base_url.rsplit(":", 1)[1]
    cdn.stop()
    with pytest.raises(FetchFailed) as err:
        fetch(f"http://127.0.0.1:{port}/cdn/a.png", "image", f"127.0.0.1:{port}")
    assert err.value.retry is True


def _pending(conversation, url: str, kind: str = "image") -> int:
    db.session.add(
        Message(
            conversation_id=conversation.id, direction="in", attachments=[{"type": kind, "url": url}], status="received"
        )
    )
    db.session.commit()
    return media_rows()[-1].id


def test_job_retries_a_5xx_then_stores(app, cdn, conversation):
    media_id = _pending(conversation, cdn.cdn_url("flaky.png", fail=1))
    with pytest.raises(FetchFailed):
        inbound.fetch_one(media_id, last_try=False)
    [row] = media_rows()
    assert (row.status, row.attempts, row.error) == ("pending", 1, "the CDN answered 500")
    assert inbound.fetch_one(media_id, last_try=False) == "stored"
    assert media_rows()[0].attempts == 2


def test_job_gives_up_after_the_last_try(app, cdn, conversation):
    media_id = _pending(conversation, cdn.cdn_url("down.png", status=503))
    assert inbound.fetch_one(media_id, last_try=True) == "failed"
    assert media_rows()[0].status == MediaStatus.FAILED


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("https://169.254.169.254/latest/meta-data/", "rejected"),
        ("https://example.com/photo.png", "rejected"),
        ("http://127.0.0.1:9/x.png", "rejected"),
    ],
)
def test_job_rejects_policy_refusals_without_retry(app, cdn, conversation, url, status):
    media_id = _pending(conversation, url)
    assert inbound.fetch_one(media_id, last_try=False) == status  # no exception: no RQ retry
    row = db.session.get(MediaFile, media_id)
    assert (row.status, row.attempts, row.storage_key) == (status, 1, None)
    assert cdn.cdn_hits() == []


def test_job_refuses_an_oversized_file(app, cdn, conversation):
    app.config["MEDIA_MAX_BYTES"], old = 1000, app.config["MEDIA_MAX_BYTES"]
    try:
        media_id = _pending(conversation, cdn.cdn_url("huge.mp4", size=2000), kind="video")
        assert inbound.fetch_one(media_id) == "rejected"
    finally:
        app.config["MEDIA_MAX_BYTES"] = old
    assert "larger than 1000 bytes" in db.session.get(MediaFile, media_id).error
