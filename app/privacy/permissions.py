"""Method -> permission map of `PrivacyRequest`, shared by the admin views and the REST API."""

from __future__ import annotations

from app.core.roles import READ_WRITE_METHODS

PRIVACY_METHODS = {
    **READ_WRITE_METHODS,
    "add": "create",
    "post": "create",
    "decide": "approve",
    "confirm": "approve",
    "contact_search": "create",
    "retry": "approve",
    "lift": "approve",
    "extend": "approve",
    "match": "approve",  # tying a web request to a contact: Privacy Officers (and Admins)
    "corrections": "approve",  # what a rectification changes: Privacy Officers (and Admins)
    "open_for_conversation": "create",
    "cancel": "write",
    "download_export": "download",
    "new_export_link": "download",
}
