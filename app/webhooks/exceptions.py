"""The webhook domain's refusals (shown to a caller or an admin) and its one outage error."""

from __future__ import annotations

from app.core.exceptions import DomainError


class WebhookError(DomainError):
    """Base of every refusal of the webhook domain, so callers can catch them in one place."""


class BadPayload(WebhookError):
    """The body is not a Messenger `object: page` payload (answered with 400 and the reason)."""

    status = 400


class RevealRefused(WebhookError):
    """Revealing a raw payload was refused (no usable reason given); flashed to the admin."""


class StorageUnavailable(RuntimeError):
    """The database did not take the event (answered with 503 so Meta retries).

    An outage, not a refusal: it is deliberately not a `WebhookError`.
    """
