"""The wording of reply refusals, in the agent's language (written once, used by view and API).

The rules (24 hours, 7 days with the HUMAN_AGENT tag) are decided in services.py; this module
only says them. Setting names such as HUMAN_AGENT_TAG_ENABLED never appear here: how an
operator enables the tag is in docs/operations.md.
"""

from __future__ import annotations

from datetime import timedelta

from app.core.channels import label


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}{'' if count == 1 else 's'}"


def ago(delta: timedelta) -> str:
    """'3 days', '26 hours', '5 minutes': how long ago the customer last wrote."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 2 * 86400:
        return _plural(seconds // 86400, "day")
    if seconds >= 3600:
        return _plural(seconds // 3600, "hour")
    return _plural(max(1, seconds // 60), "minute")


def never_wrote(channel: str = "messenger") -> str:
    return (
        f"This customer has never written to this page. {label(channel)} only allows a page to reply after "
        "the customer writes first."
    )


def window_closed(age: timedelta, personal_replies: bool, channel: str = "messenger") -> str:
    """No reply is possible: the 24-hour window closed (and, with personal replies on, 7 days too)."""
    text = f"This customer last wrote {ago(age)} ago. {label(channel)} only allows replies within 24 hours"
    if not personal_replies:
        return text + " of the customer's last message. You can answer as soon as they write again."
    return (
        text + " of the customer's last message (up to 7 days for a personal reply from an agent). "
        "You can answer as soon as they write again."
    )


def needs_personal_confirmation(age: timedelta, channel: str = "messenger") -> str:
    """Between 24 hours and 7 days: only a personal reply, which the agent must confirm."""
    return (
        f"This customer last wrote {ago(age)} ago, more than 24 hours. {label(channel)} only allows a personal "
        "reply written by you now (up to 7 days): tick “This is a personal reply written by me” and send again."
    )
