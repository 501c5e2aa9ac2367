"""Method -> permission map of `Notification`, shared by the page and the REST API.

Every role holds `Notification` read/write; what a person sees is always only their own rows
(the service filters by the caller), so the permission only says "has a bell".
"""

from __future__ import annotations

from app.core.roles import READ_WRITE_METHODS

NOTIFICATION_METHODS = {
    **READ_WRITE_METHODS,
    "index": "read",
    "count": "read",
    "open": "write",
    "mark_read": "write",
    "mark_all_read": "write",
}
