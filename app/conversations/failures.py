"""What a failed or delayed send means to an agent: a plain reason per error class.

One place maps the stored `message.error_code` (a Graph code, or one of ours such as
`page_needs_reauth`) to a class, a sentence in the agent's language and whether retrying can
help. The conversation page, its live-update script (through `message_dict`) and the retry
rule in services all read it, so the Retry button never appears where the service refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.messenger.client import PERMANENT_CODES, REAUTH_CODES, RETRYABLE_CODES


class FailureClass(StrEnum):
    UNAVAILABLE = "unavailable"  # the person can't be reached (blocked the page, left Messenger)
    NOT_ALLOWED = "not_allowed"  # Messenger's policy or the page's permissions forbid it
    REAUTH = "reauth"  # the page's token expired or was revoked
    RATE_LIMITED = "rate_limited"  # throttled / temporary: retried automatically
    TEMPORARY = "temporary"  # Messenger down, network: retried automatically, then Retry
    INVALID = "invalid"  # the message itself can't be sent as written
    BLOCKED = "blocked"  # refused before sending (page or contact precondition)
    UNKNOWN_OUTCOME = "unknown_outcome"  # the worker died mid-send
    OTHER = "other"


@dataclass(frozen=True)
class Failure:
    """A failure as the agent sees it: the reason, and whether a Retry button makes sense."""

    kind: FailureClass
    reason: str
    retryable: bool


_REASONS: dict[FailureClass, tuple[str, bool]] = {
    FailureClass.UNAVAILABLE: (
        "This person isn't available on Messenger right now (they may have blocked the page or "
        "deactivated their account). Retrying won't help.",
        False,
    ),
    FailureClass.NOT_ALLOWED: (
        "Messenger doesn't allow this page to send this message (a policy or permission rule). "
        "Retrying won't help; ask an Admin if it keeps happening.",
        False,
    ),
    FailureClass.REAUTH: (
        "The page's connection to Facebook expired. Ask an Admin to reconnect the page, then retry.",
        True,
    ),
    FailureClass.RATE_LIMITED: (
        "Messenger is limiting how fast this page sends. It will retry automatically.",
        True,
    ),
    FailureClass.TEMPORARY: (
        "Messenger had a temporary problem. Try again in a few minutes.",
        True,
    ),
    FailureClass.INVALID: (
        "This message can't be sent as written (for example it is too long). Write a new reply.",
        False,
    ),
    FailureClass.BLOCKED: (
        "This reply was stopped before sending (the page or the contact can't receive replies now). "
        "Retry once that is fixed.",
        True,
    ),
    FailureClass.UNKNOWN_OUTCOME: (
        "It's unknown whether this reply reached the person (sending was interrupted). "
        "Check the conversation in Messenger before retrying.",
        True,
    ),
    FailureClass.OTHER: ("Messenger refused this message. Retrying won't help.", False),
}

_OURS = {
    "page_needs_reauth": FailureClass.REAUTH,
    "refused": FailureClass.BLOCKED,
    "invalid": FailureClass.INVALID,
    "unknown_outcome": FailureClass.UNKNOWN_OUTCOME,
    "network": FailureClass.TEMPORARY,
    "error": FailureClass.OTHER,
}
#: Graph's "person isn't available" codes (551, and 100's "no matching user" is permanent too).
UNAVAILABLE_CODES = frozenset({551, 100})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613})


def classify_code(code: str | None) -> FailureClass:
    """The class of a stored error code (Graph's numbers, HTTP statuses or our own names)."""
    if not code:
        return FailureClass.OTHER
    if code in _OURS:
        return _OURS[code]
    try:
        number = int(code)
    except ValueError:
        return FailureClass.OTHER
    if number in REAUTH_CODES:
        return FailureClass.REAUTH
    if number in RATE_LIMIT_CODES:
        return FailureClass.RATE_LIMITED
    if number in UNAVAILABLE_CODES:
        return FailureClass.UNAVAILABLE
    if number in PERMANENT_CODES:
        return FailureClass.NOT_ALLOWED  # 10, 200
    if number in RETRYABLE_CODES or 500 <= number < 600:
        return FailureClass.TEMPORARY  # 1, 2 and HTTP 5xx (stored when Graph sent no code)
    return FailureClass.OTHER


def explain(code: str | None) -> Failure:
    """The agent's reason for a failed send with this stored code, and whether Retry helps."""
    kind = classify_code(code)
    reason, retryable = _REASONS[kind]
    return Failure(kind, reason, retryable)


def explain_delay(code: str | None) -> str:
    """A queued reply waiting for its automatic retry (the code shows in the details)."""
    kind = classify_code(code)
    if kind is FailureClass.RATE_LIMITED:
        return _REASONS[kind][0]
    return "Messenger had a temporary problem. This reply will be retried automatically."
