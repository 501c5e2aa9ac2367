"""Fetching one inbound attachment from Meta's CDN, under the rules of `hosts`.

The connection goes to the address `hosts.check_url` checked (TLS still verifies the host's
certificate), redirects are followed by hand and each hop is checked again, the body is
streamed and abandoned past the size cap or the overall deadline, and the content type must
belong to the attachment's family. Nothing here touches the database or the store.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from urllib.parse import urljoin

import certifi
import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from app.media.exceptions import FetchFailed, FetchRefused
from app.media.hosts import Target, check_url

MAX_REDIRECTS = 3
CHUNK = 64 * 1024
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0
# attachment type -> the content type prefixes its bytes may have ("" = any but the refused).
# Instagram stories (a story the person mentioned us in, or ours they replied to) vanish after
# 24 hours: a copy keeps what the conversation is about; a story is a picture or a video.
FAMILIES: dict[str, tuple[str, ...]] = {
    "image": ("image/",),
    "sticker": ("image/",),
    "video": ("video/",),
    "audio": ("audio/",),
    "file": ("",),
    "story_mention": ("image/", "video/"),
    "story": ("image/", "video/"),
}
FETCHABLE = frozenset(FAMILIES)
# never stored: a browser would run them as pages or scripts of our origin
REFUSED_TYPES = frozenset({"text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml"})


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str
    sha256: str


def media_type_of(header: str | None) -> str:
    """`image/jpeg; charset=x` -> `image/jpeg`; none -> `application/octet-stream`."""
    value = (header or "").split(";", 1)[0].strip().lower()
    return value or "application/octet-stream"


def check_type(kind: str, content_type: str) -> None:
    """The content type must fit the attachment's family (FetchRefused otherwise)."""
    families = FAMILIES.get(kind)
    if families is None:
        raise FetchRefused(f"attachments of type {kind!r} are not fetched")
    if content_type in REFUSED_TYPES or not content_type.startswith(families):
        raise FetchRefused(f"content type {content_type} does not fit a {kind} attachment")


def _pool(target: Target, timeout: float, ca_certs: str) -> urllib3.HTTPConnectionPool:
    t = urllib3.Timeout(connect=min(5.0, timeout), read=timeout)
    if target.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=t,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs,
            server_hostname=target.host,
            assert_hostname=target.host,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=t, retries=False)


def _read(resp: urllib3.BaseHTTPResponse, max_bytes: int, deadline: float) -> bytes:
    length = resp.headers.get("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise FetchRefused(f"file larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.stream(CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FetchRefused(f"file larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FetchFailed("the download took too long", retry=True)
        chunks.append(chunk)
    return b"".join(chunks)


def _status_failure(status: int) -> FetchFailed:
    if status >= 500 or status == 429:
        return FetchFailed(f"the CDN answered {status}", retry=True)
    return FetchFailed(f"the CDN answered {status} (expired or removed link)", retry=False)


def fetch(
    url: str,
    kind: str,
    hosts_setting: str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    ca_certs: str | None = None,
) -> Fetched:
    """The attachment's bytes; FetchRefused for policy, FetchFailed for the network or the CDN.
    `ca_certs`: the trust store (default: certifi's public CAs)."""
    if kind not in FAMILIES:
        raise FetchRefused(f"attachments of type {kind!r} are not fetched")
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        target = check_url(url, hosts_setting)
        pool = _pool(target, timeout, ca_certs or certifi.where())
        try:
            resp = pool.urlopen(
                "GET",
                target.path,
                headers={"Host": target.host_header, "User-Agent": "OmniCRM-media/1", "Accept-Encoding": "identity"},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
            )
            try:
                if resp.status in (301, 302, 303, 307, 308) and resp.headers.get("Location"):
                    url = urljoin(url, resp.headers["Location"])
                    continue
                if resp.status != 200:
                    raise _status_failure(resp.status)
                content_type = media_type_of(resp.headers.get("Content-Type"))
                check_type(kind, content_type)
                data = _read(resp, max_bytes, deadline)
            finally:
                resp.release_conn()
        except Urllib3Error as exc:
            raise FetchFailed(f"network error: {type(exc).__name__}", retry=True) from exc
        finally:
            pool.close()
        return Fetched(data, content_type, hashlib.sha256(data).hexdigest())
    raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")
