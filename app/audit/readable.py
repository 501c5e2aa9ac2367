"""The audit log in words: action names, entity names, a changes table, readable times.

Used by the grid, the entry page and a record's history; the stored rows (and the CSV export)
keep their machine names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

ACTION_LABELS = {
    "insert": "Created",
    "update": "Changed",
    "delete": "Deleted",
    "bulk_update": "Changed in bulk",
    "bulk_delete": "Deleted in bulk",
    "login": "Signed in",
    "logout": "Signed out",
    "login_failed": "Sign-in failed",
    "password_changed": "Password changed",
    "account_unlocked": "Account unlocked",
    "account_anonymised": "Account anonymised",
    "account_deleted": "Account deleted",
    "audit_archived": "Audit log archived",
    "audit_chain_broken": "Audit chain found broken",
    "audit_exported": "Audit log exported",
    "contact_rectified": "Contact corrected (rectification)",
    "contact_restricted": "Contact restricted",
    "restriction_lifted": "Restriction lifted",
    "marketing_opt_out": "Opted out of marketing",
    "conversation_assigned": "Conversation assigned",
    "conversation_status_changed": "Conversation status changed",
    "reply_queued": "Reply queued",
    "reply_failed": "Reply failed",
    "erasure_completed": "Erasure completed",
    "export_created": "Data export created",
    "export_downloaded": "Data export downloaded",
    "export_expired": "Data export expired",
    "page_token_replaced": "Page access token replaced",
    "webhook_payload_revealed": "Raw webhook payload revealed",
    "privacy_request_created": "Privacy request created",
    "privacy_request_approved": "Privacy request approved",
    "privacy_request_denied": "Privacy request denied",
    "privacy_request_canceled": "Privacy request canceled",
    "privacy_request_retried": "Privacy request retried",
    "privacy_request_processing": "Privacy request processing",
    "privacy_request_completed": "Privacy request completed",
    "privacy_request_failed": "Privacy request failed",
    "privacy_request_overdue": "Privacy request overdue",
    "privacy_request_extended": "Privacy request extended",
}
ENTITY_LABELS = {
    "ab_user": "User",
    "ab_role": "Role",
    "page": "Page",
    "contact": "Contact",
    "conversation": "Conversation",
    "message": "Message",
    "privacy_request": "Privacy request",
    "audit_log": "Audit log",
    "webhook_event": "Webhook event",
    "canned_reply": "Canned reply",
    "notification": "Notification",
}
EMPTY = "—"


def _words(name: str) -> str:
    return name.replace("_", " ").strip().capitalize() or EMPTY


def action_label(action: str | None) -> str:
    """`privacy_request_approved` -> "Privacy request approved"; unknown names in words too."""
    if not action:
        return EMPTY
    return ACTION_LABELS.get(action) or _words(action)


def entity_label(entity_type: str | None) -> str:
    if not entity_type:
        return EMPTY
    return ENTITY_LABELS.get(entity_type) or _words(entity_type)


def when(value: datetime | None) -> str:
    """ "29 Nov 2026, 22:37:36 UTC": seconds, never microseconds."""
    return value.strftime("%d %b %Y, %H:%M:%S UTC") if value is not None else EMPTY


def cell(value: Any) -> str:
    """One value of a change, as text: "—" for none, Yes/No for booleans."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, list):
        return ", ".join(cell(v) for v in value) or EMPTY
    if isinstance(value, dict):
        return "; ".join(f"{_words(str(k))}: {cell(v)}" for k, v in value.items()) or EMPTY
    return str(value)


def change_rows(changes: Any) -> list[tuple[str, str, str]]:
    """(field, before, after) rows; a plain value (not a [before, after] pair) fills "after"."""
    if changes is None:
        return []
    if not isinstance(changes, dict):
        return [("", EMPTY, cell(changes))]
    rows = []
    for key, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            rows.append((_words(str(key)), cell(value[0]), cell(value[1])))
        else:
            rows.append((_words(str(key)), EMPTY, cell(value)))
    return rows
