"""Refusals of the privacy domain: views flash them, the API and public routes answer with them."""

from __future__ import annotations

from app.core.exceptions import DomainError


class PrivacyError(DomainError):
    """A refused action; the message is shown to the user (no personal data in it)."""


class SignedRequestError(PrivacyError):
    """A signed_request that must be answered with 400 (reason is safe to return)."""

    status = 400
