"""The one base class for refusals a person should read: every domain's errors subclass it.

A `DomainError` is a rule saying no (a closed reply window, a second extension, a token that
is wrong): views flash it, the REST API answers `status` (422 unless the subclass says
otherwise) with its message. Anything else that escapes — a `ValueError` from a bug included —
is a 500 with a logged traceback, never shown to the user.
"""

from __future__ import annotations


class DomainError(Exception):
    """A refusal with a reason meant for the user; `status` is the HTTP answer in the API."""

    status: int = 422

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message
