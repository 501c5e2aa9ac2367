"""Media refusals and fetch failures.

A `FetchRefused` is a policy answer (host, address, scheme, type or size): never retried. A
`FetchFailed` is the network or the CDN failing: `retry` says whether trying again can help.
"""

from __future__ import annotations

from app.core.exceptions import DomainError


class MediaError(DomainError):
    """A media request the service refuses (no such file, not stored)."""

    status = 404


class FetchRefused(MediaError):
    """The URL or the answer breaks the fetch policy (SSRF rules, type, size): never retried."""

    status = 422


class FetchFailed(Exception):
    """The fetch did not complete: a network error or a 5xx (`retry`), or a 4xx (expired link)."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry
