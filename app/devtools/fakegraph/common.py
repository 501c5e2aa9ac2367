"""Shared pieces of the fake Graph API: signatures, made-up profiles, Graph-shaped errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

DEFAULT_TIMEOUT_SLEEP = 30.0
_FIRST_NAMES = ["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Robin", "Jamie"]
_LAST_NAMES = [
    "Rivera",
    "Okafor",
    "Nguyen",
    "Schmidt",
    "Kowalski",
    "Haddad",
    "Larsen",
    "Moreau",
]


def now_ms() -> int:
    """Now in Meta's unit (milliseconds since the epoch)."""
    return int(time.time() * 1000)


def sign_body(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 header value Meta sends with every webhook."""
    return "sha256=" + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def default_profile(psid: str) -> dict[str, Any]:
    """A deterministic made-up profile so the same PSID always gets the same name."""
    n = int(hashlib.sha256(psid.encode("utf-8")).hexdigest(), 16)
    return {
        "first_name": _FIRST_NAMES[n % len(_FIRST_NAMES)],
        "last_name": _LAST_NAMES[(n // 7) % len(_LAST_NAMES)],
        "profile_pic": f"https://example.invalid/pics/{psid}.jpg",
        "locale": "en_US",
        "id": psid,
    }


def error_body(
    code: int | None,
    message: str,
    subcode: int | None = None,
    error_type: str = "OAuthException",
) -> dict[str, Any]:
    """An error body shaped like the Graph API's, so the real client's parsing is exercised."""
    err: dict[str, Any] = {
        "message": message,
        "type": error_type,
        "code": code,
        "fbtrace_id": "F" + uuid.uuid4().hex[:11],
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    return {"error": err}


def json_response(status: int, data: Any) -> tuple[int, str, bytes]:
    """(status, content type, body) of a JSON answer, as `FakeGraph.handle` returns them."""
    return status, "application/json", json.dumps(data).encode("utf-8")
