"""Media services: what the conversation view needs to show stored attachment files."""

from __future__ import annotations


def media_urls(message_ids: list[int]) -> dict[int, dict[int, str]]:
    """URLs of our stored copies, by message id then attachment position (stored files only).

    The conversation view shows a stored copy inline; an attachment with no entry here is not
    (yet) stored: it is shown as a placeholder with its type.
    """
    return {}
