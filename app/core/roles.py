"""The four roles and their permissions, declared once (DESIGN.md's matrix).

Views and APIs of one resource share a `class_permission_name` (the resource) and map their
methods onto a few verbs (`read`, `write`, ...), so a role is a short list of
(resource, verb) pairs. Flask-AppBuilder evaluates these "builtin roles" in memory.
"""

from __future__ import annotations

ROLE_ADMIN = "Admin"
ROLE_SUPPORT_MANAGER = "Support Manager"
ROLE_AGENT = "Agent"
ROLE_PRIVACY_OFFICER = "Privacy Officer"
ROLE_PUBLIC = "Public"
ALL_ROLES = (ROLE_ADMIN, ROLE_SUPPORT_MANAGER, ROLE_AGENT, ROLE_PRIVACY_OFFICER)

# method name -> permission verb, for ModelView and ModelRestApi alike.
READ_WRITE_METHODS = {
    "list": "read",
    "show": "read",
    "api": "read",
    "api_read": "read",
    "api_get": "read",
    "api_column_add": "write",
    "api_column_edit": "write",
    "download": "read",
    "get": "read",
    "get_list": "read",
    "info": "read",
    "history": "read",
    "add": "write",
    "edit": "write",
    # Deleting rows is its own verb: only Admins hold it (DESIGN.md "Only Admins delete rows").
    "delete": "delete",
    "muldelete": "delete",
    "post": "write",
    "put": "write",
    "api_create": "write",
    "api_update": "write",
    "api_delete": "delete",
}

_SELF_SERVICE = [
    ("^(ResetMyPasswordView|UserInfoEditView)$", "^can_this_form_(get|post)$"),
    ("^UserDBModelView$", "^can_(userinfo|resetmypassword|userinfoedit)$"),
    ("^PolicyAcknowledgement$", "^can_write$"),  # "I have read the new privacy policy"
]


def _perms(*pairs: tuple[str, str]) -> list[tuple[str, str]]:
    """(resource, verbs) -> anchored regex pairs FAB matches against (view_menu, permission)."""
    return [(f"^({resource})$", f"^can_({verbs})$") for resource, verbs in pairs]


def _menus(*names: str) -> list[tuple[str, str]]:
    return [(f"^({'|'.join(names)})$", "^menu_access$")]


FAB_ROLES: dict[str, list[tuple[str, str]]] = {
    ROLE_ADMIN: [(".*", ".*")],
    ROLE_SUPPORT_MANAGER: _perms(
        ("Page", "read"),
        ("Contact", "read|write|edit_notes|export|history"),
        ("Conversation", "read|assign|take|close|history|label|export"),
        ("Message", "read"),
        ("PrivacyRequest", "create"),
        ("Dashboard", "read"),
        ("CannedReply", "read|write"),
        ("ConversationNote", "read|write"),
        ("Notification", "read|write"),
        ("Availability", "read|write"),
        ("WorkspaceSettings", "read|write"),
    )
    + _menus("CRM", "Inbox", "Pages", "Contacts", "Conversations", "Messages", "Assignment & CSAT")
    + _menus("Canned Replies")
    + _SELF_SERVICE,
    ROLE_AGENT: _perms(
        ("Contact", "read|edit_notes"),
        ("Conversation", "read|reply|take|close|label"),
        ("Message", "read"),
        ("PrivacyRequest", "create"),
        ("Dashboard", "read"),
        ("CannedReply", "read"),
        ("ConversationNote", "read|write"),
        ("Notification", "read|write"),
        ("Availability", "read|write"),
    )
    + _menus("CRM", "Inbox", "Contacts", "Conversations", "Messages")
    + _menus("Canned Replies")
    + _SELF_SERVICE,
    ROLE_PRIVACY_OFFICER: _perms(
        ("Page", "read"),
        ("Contact", "read|history|legal_hold"),
        ("PrivacyRequest", "create|read|approve|download|history"),
        ("AuditLog", "read|export|verify"),
        ("Dashboard", "read"),
        ("Notification", "read|write"),
    )
    + _menus("CRM", "Pages", "Contacts", "Privacy", "Privacy Requests", "Audit Log")
    + _SELF_SERVICE,
    ROLE_PUBLIC: [],
}
