"""Graph API client for the Messenger Send API, user profiles and ids_for_pages.

Kept free of Flask so workers, scripts and tests can use it standalone. Every failure is
raised as a typed :class:`GraphError` subclass so callers decide retry / re-auth / give up
from the class alone. Page tokens are secrets: they never appear in log records or in
exception messages (URLs are scrubbed, only page ids and PSID tails are logged).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json as jsonlib
import logging
import os
import re
from collections.abc import Mapping
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter

from app.core.exceptions import DomainError

logger = logging.getLogger(__name__)

DEFAULT_GRAPH_API_BASE = "https://graph.facebook.com"
DEFAULT_GRAPH_API_VERSION = "v25.0"  # available until 2028-07-29 (app/pages/graph_versions.py)
DEFAULT_CONNECT_TIMEOUT = 3.05
DEFAULT_READ_TIMEOUT = 10.0
MAX_TEXT_LENGTH = 2000

#: Throttling / transient codes: retry with backoff.
RETRYABLE_CODES = frozenset({1, 2, 4, 17, 32, 613})
#: Expired / invalidated token: the page must be re-authorised before sending again.
REAUTH_CODES = frozenset({190})
#: Known permanent failures: show the reason to the agent, never retry.
PERMANENT_CODES = frozenset({551, 10, 200, 100})

_SECRET_QUERY_RE = re.compile(r"((?:access_token|input_token|appsecret_proof|client_secret)=)[^&\s\"']+", re.IGNORECASE)


class InvalidMessageError(DomainError):
    """The message can't go out as given (no content, text too long): refused before any call.

    A `DomainError` so the outbound job shows the reason to the agent, while a `ValueError`
    from a bug still fails the job with a traceback.
    """


class GraphError(Exception):
    """A failed Graph API call; the subclass tells the caller what to do about it."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        http_status: int | None = None,
        fbtrace_id: str | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.subcode = subcode
        self.http_status = http_status
        self.fbtrace_id = fbtrace_id
        self.error_type = error_type

    def __str__(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"code={self.code}")
        if self.subcode is not None:
            parts.append(f"subcode={self.subcode}")
        if self.http_status is not None:
            parts.append(f"http_status={self.http_status}")
        if self.fbtrace_id:
            parts.append(f"fbtrace_id={self.fbtrace_id}")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, code={self.code!r}, "
            f"subcode={self.subcode!r}, http_status={self.http_status!r})"
        )


class RetryableGraphError(GraphError):
    """Transient failure (throttling, 5xx, timeout, network): retry later with backoff."""


class ReauthRequiredError(GraphError):
    """The page token is no longer valid (code 190): block sends until re-authorised."""


class PermanentGraphError(GraphError):
    """The request will never succeed as is (policy, permission, bad input): do not retry."""


def classify(code: int | None, http_status: int | None) -> type[GraphError]:
    """Map a Graph error code / HTTP status to the error class that decides retry policy.

    Known codes win over the HTTP status; unknown codes fall back to the status (5xx and
    no response at all are transient, any other failure is permanent).
    """
    if code in RETRYABLE_CODES:
        return RetryableGraphError
    if code in REAUTH_CODES:
        return ReauthRequiredError
    if code in PERMANENT_CODES:
        return PermanentGraphError
    if http_status is None or http_status >= 500:
        return RetryableGraphError
    return PermanentGraphError


@functools.lru_cache(maxsize=256)
def appsecret_proof(token: str, app_secret: str) -> str:
    """Hex HMAC-SHA256 of the access token keyed by the app secret (Meta's proof of caller)."""
    return hmac.new(app_secret.encode("utf-8"), token.encode("utf-8"), hashlib.sha256).hexdigest()


def scrub(text: str, *secrets: str | None) -> str:
    """Remove tokens from text that may end up in logs or exception messages."""
    text = _SECRET_QUERY_RE.sub(r"\1***", text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def _tail(value: str) -> str:
    """Last 4 characters of an identifier: enough to correlate logs, not to identify a user."""
    return "…" + str(value)[-4:]


def _as_int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class _RedactQueryFilter(logging.Filter):
    """Redacts token query params from urllib3's DEBUG request lines, which include the URL."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        return True


_REDACT_FILTER = _RedactQueryFilter()


def _install_urllib3_redaction() -> None:
    """Idempotently attach the redaction filter to urllib3's connection-pool logger."""
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if _REDACT_FILTER not in pool_logger.filters:
        pool_logger.addFilter(_REDACT_FILTER)


class GraphClient:
    """Thread-safe Graph API client sharing one pooled HTTP session across calls."""

    def __init__(
        self,
        base_url: str = DEFAULT_GRAPH_API_BASE,
        version: str = DEFAULT_GRAPH_API_VERSION,
        app_secret: str = "",
        app_id: str = "",
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.base_url = (base_url or DEFAULT_GRAPH_API_BASE).rstrip("/")
        version = (version or DEFAULT_GRAPH_API_VERSION).strip("/")
        self.version = version if version.startswith("v") else f"v{version}"
        self.app_secret = app_secret or ""
        self.app_id = app_id or ""
        self.timeout = (float(connect_timeout), float(read_timeout))
        self.session = requests.Session()
        # Retries are the job queue's decision (with backoff), never hidden inside the client.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # Proxy and CA settings from the environment are read once here, not on every call
        # (requests re-reads and scans os.environ per request: a third of a local send).
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.session.trust_env = False
        _install_urllib3_redaction()

    def __repr__(self) -> str:
        return f"GraphClient(base_url={self.base_url!r}, version={self.version!r})"

    def close(self) -> None:
        """Release pooled connections."""
        self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public API

    def send_message(
        self,
        page_id: str,
        token: str,
        psid: str,
        text: str | None = None,
        *,
        messaging_type: str = "RESPONSE",
        tag: str | None = None,
        metadata: str | None = None,
        attachment: dict[str, Any] | None = None,
        quick_replies: list[dict[str, Any]] | None = None,
    ) -> str:
        """Send one message via the Send API and return Meta's ``message_id`` (the mid)."""
        if text is None and attachment is None:
            raise InvalidMessageError("send_message needs text or an attachment")
        if text is not None and len(text) > MAX_TEXT_LENGTH:
            raise InvalidMessageError(f"message text exceeds {MAX_TEXT_LENGTH} characters")
        message: dict[str, Any] = {}
        if text is not None:
            message["text"] = text
        if attachment is not None:
            message["attachment"] = attachment
        if metadata is not None:
            message["metadata"] = metadata
        if quick_replies:
            message["quick_replies"] = quick_replies
        payload: dict[str, Any] = {
            "recipient": {"id": psid},
            "messaging_type": messaging_type,
            "message": message,
        }
        if tag is not None:
            payload["tag"] = tag
        context = f"send page={page_id} psid={_tail(psid)}"
        data = self._request("POST", f"{page_id}/messages", token, context, json=payload)
        mid = data.get("message_id") if isinstance(data, dict) else None
        if not mid:
            # The message may have gone out; retrying could duplicate it, so do not retry.
            raise PermanentGraphError(f"{context}: response has no message_id", http_status=200)
        logger.debug("graph %s ok mid=%s", context, _tail(mid))
        return str(mid)

    def upload_attachment(
        self,
        page_id: str,
        token: str,
        media_type: str,
        file: tuple[str, bytes, str],
        *,
        platform: str | None = None,
    ) -> str:
        """Upload one file with the Attachment Upload API; returns Meta's reusable ``attachment_id``.

        `file` is (file name, bytes, content type), sent as the `filedata` part; `platform` is
        "instagram" for an Instagram conversation (Meta's parameter), None for Messenger.
        """
        message = {"attachment": {"type": media_type, "payload": {"is_reusable": True}}}
        form = {"message": jsonlib.dumps(message)}
        if platform:
            form["platform"] = platform
        context = f"upload page={page_id} type={media_type}"
        data = self._request(
            "POST", f"{page_id}/message_attachments", token, context, data=form, files={"filedata": file}
        )
        attachment_id = data.get("attachment_id") if isinstance(data, dict) else None
        if not attachment_id:
            raise PermanentGraphError(f"{context}: response has no attachment_id", http_status=200)
        return str(attachment_id)

    def send_sender_action(self, page_id: str, token: str, psid: str, action: str) -> None:
        """Show `mark_seen` / `typing_on` / `typing_off` to the contact (no message is sent)."""
        payload = {"recipient": {"id": psid}, "sender_action": action}
        self._request("POST", f"{page_id}/messages", token, f"{action} page={page_id} psid={_tail(psid)}", json=payload)

    def get_profile(self, psid: str, token: str) -> dict[str, Any]:
        """Fetch the contact's public profile (name, picture, locale) for the given PSID."""
        context = f"profile psid={_tail(psid)}"
        data = self._request(
            "GET",
            psid,
            token,
            context,
            params={"fields": "first_name,last_name,profile_pic,locale"},
        )
        return data if isinstance(data, dict) else {}

    def get_instagram_profile(self, igsid: str, token: str) -> dict[str, Any]:
        """An Instagram contact's profile (name, @username, picture) by IGSID, with the Page token."""
        context = f"ig profile igsid={_tail(igsid)}"
        data = self._request("GET", igsid, token, context, params={"fields": "name,username,profile_pic"})
        return data if isinstance(data, dict) else {}

    def ids_for_pages(self, app_scoped_user_id: str, token: str) -> list[dict[str, Any]]:
        """List the PSIDs an app-scoped user has on the app's pages (for privacy requests)."""
        context = f"ids_for_pages asid={_tail(app_scoped_user_id)}"
        results: list[dict[str, Any]] = []
        params: dict[str, str] = {}
        for _ in range(50):  # bounded: never loop forever on a misbehaving cursor
            data = self._request(
                "GET",
                f"{app_scoped_user_id}/ids_for_pages",
                token,
                context,
                params=dict(params),
            )
            if not isinstance(data, dict):
                break
            results.extend(item for item in data.get("data") or [] if isinstance(item, dict))
            paging = data.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                break
            params["after"] = after
        return results

    # ------------------------------------------------------------------ internals

    def _auth_params(self, token: str) -> dict[str, str]:
        params = {"access_token": token}
        if self.app_secret:
            params["appsecret_proof"] = appsecret_proof(token, self.app_secret)
        return params

    def _request(
        self,
        method: str,
        path: str,
        token: str,
        context: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """Perform one call and return parsed JSON, or raise a typed, token-free GraphError.

        `data` + `files` send a multipart form (the Attachment Upload API) instead of JSON.
        """
        url = f"{self.base_url}/{self.version}/{path}"
        query = {**(params or {}), **self._auth_params(token)}
        try:
            resp = self.session.request(
                method, url, params=query, json=json, data=data, files=files, timeout=self.timeout
            )
        except (
            requests.Timeout,
            requests.ConnectionError,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            # str(exc) embeds the full URL with the token: report the exception type only.
            logger.warning("graph %s failed: %s", context, type(exc).__name__)
            raise RetryableGraphError(f"{context}: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            logger.error("graph %s failed: %s", context, type(exc).__name__)
            raise PermanentGraphError(f"{context}: {type(exc).__name__}") from None

        try:
            data = jsonlib.loads(resp.content)  # bytes: UTF-8/16/32 detected as Meta's JSON needs
        except ValueError:
            data = None

        error = data.get("error") if isinstance(data, dict) else None
        if resp.ok and error is None:
            if data is None:
                raise PermanentGraphError(f"{context}: response is not JSON", http_status=resp.status_code)
            return data
        raise self._error_from_response(resp, error, context, token)

    def _error_from_response(self, resp: requests.Response, error: Any, context: str, token: str) -> GraphError:
        """Build the typed error from Meta's {"error": {...}} shape, or from the status alone."""
        status = resp.status_code
        if isinstance(error, dict):
            code = _as_int(error.get("code"))
            subcode = _as_int(error.get("error_subcode"))
            message = str(error.get("message") or "Graph API error")
            fbtrace_id = error.get("fbtrace_id")
            error_type = error.get("type")
        else:
            code = subcode = None
            fbtrace_id = error_type = None
            message = f"HTTP {status} with non-JSON body" if error is None else "malformed error body"
        message = scrub(f"{context}: {message}", token, self.app_secret)
        cls = classify(code, status)
        logger.warning(
            "graph %s failed: %s code=%s subcode=%s status=%s fbtrace_id=%s",
            context,
            cls.__name__,
            code,
            subcode,
            status,
            fbtrace_id,
        )
        return cls(
            message,
            code=code,
            subcode=subcode,
            http_status=status,
            fbtrace_id=str(fbtrace_id) if fbtrace_id else None,
            error_type=str(error_type) if error_type else None,
        )


def client_from_config(config: Mapping[str, Any]) -> GraphClient:
    """Build a client from a Flask-style config mapping (works with plain dicts too)."""

    def _float(key: str, default: float) -> float:
        value = config.get(key)
        if value is None or value == "":
            return default
        return float(value)

    return GraphClient(
        base_url=config.get("GRAPH_API_BASE") or DEFAULT_GRAPH_API_BASE,
        version=config.get("GRAPH_API_VERSION") or DEFAULT_GRAPH_API_VERSION,
        app_secret=config.get("FB_APP_SECRET") or "",
        app_id=config.get("FB_APP_ID") or "",
        connect_timeout=_float("GRAPH_TIMEOUT_CONNECT", DEFAULT_CONNECT_TIMEOUT),
        read_timeout=_float("GRAPH_TIMEOUT_READ", DEFAULT_READ_TIMEOUT),
    )
