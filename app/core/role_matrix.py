"""The role matrix of `app.core.roles` in words: role x resource -> actions.

`FAB_ROLES` holds anchored regex pairs for Flask-AppBuilder; people read this instead (the
Admin page "Permissions by role" and docs/walkthrough.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.core.roles import ALL_ROLES, FAB_ROLES, ROLE_ADMIN

RESOURCE_LABELS = {
    "Dashboard": "Dashboard",
    "Page": "Facebook Pages",
    "Contact": "Contacts",
    "Conversation": "Conversations (inbox)",
    "Message": "Messages",
    "PrivacyRequest": "Privacy requests",
    "AuditLog": "Audit log",
    "WebhookEvent": "Raw webhook events",
    "QueueDashboard": "Job queues",
    "RoleMatrix": "Permissions by role",
}
VERB_WORDS = {
    "read": "view",
    "write": "add and edit",
    "create": "create",
    "delete": "delete",
    "edit_notes": "edit notes and tags",
    "export": "export CSV",
    "history": "see change history",
    "assign": "assign to an agent",
    "take": "take (assign to self)",
    "close": "close",
    "reply": "reply",
    "approve": "approve or deny (four eyes)",
    "download": "download data exports",
    "legal_hold": "set or clear legal hold",
    "verify": "verify the hash chain",
}
_GROUP = re.compile(r"^\^(?:can_)?\(?(.*?)\)?\$$")


@dataclass(frozen=True)
class MatrixRow:
    resource: str
    label: str
    actions: dict[str, list[str]]  # role -> action words (empty: no access)


def _alternatives(pattern: str) -> list[str]:
    """'^(Contact|Page)$' -> ['Contact', 'Page']; '^can_(read|write)$' -> ['read', 'write']."""
    match = _GROUP.match(pattern)
    if match is None:
        return []
    return [part for part in match.group(1).split("|") if part]


def role_grants(role: str) -> dict[str, list[str]]:
    """resource -> verbs a role holds (menu entries and self-service forms left out)."""
    grants: dict[str, list[str]] = {}
    for resource_re, perm_re in FAB_ROLES.get(role, []):
        if not perm_re.startswith("^can_") or resource_re == ".*":
            continue
        for resource in _alternatives(resource_re):
            if resource in RESOURCE_LABELS:
                grants.setdefault(resource, []).extend(_alternatives(perm_re))
    return grants


def words(verbs: list[str]) -> list[str]:
    return [VERB_WORDS.get(v, v.replace("_", " ")) for v in verbs]


def matrix() -> list[MatrixRow]:
    """One row per resource, in RESOURCE_LABELS order; Admins hold every action."""
    per_role = {role: role_grants(role) for role in ALL_ROLES}
    rows = []
    for resource, label in RESOURCE_LABELS.items():
        actions: dict[str, list[str]] = {}
        for role in ALL_ROLES:
            if role == ROLE_ADMIN and FAB_ROLES[ROLE_ADMIN] == [(".*", ".*")]:
                actions[role] = ["everything"]
            else:
                actions[role] = words(per_role[role].get(resource, []))
        rows.append(MatrixRow(resource, label, actions))
    return rows


def summary(pairs: list[tuple[str, str]]) -> str:
    """A role's (resource regex, permission regex) pairs as "Contacts: view, ...; Messages: view"."""
    if (".*", ".*") in pairs:
        return "everything"
    grants: dict[str, list[str]] = {}
    for resource_re, perm_re in pairs:
        if not str(perm_re).startswith("^can_"):
            continue
        for resource in _alternatives(str(resource_re)):
            if resource in RESOURCE_LABELS:
                grants.setdefault(resource, []).extend(_alternatives(str(perm_re)))
    parts = [f"{RESOURCE_LABELS[r]}: {', '.join(words(v))}" for r, v in grants.items()]
    return "; ".join(parts) + ("; " if parts else "") + "own profile and password"


def describe_role(name: str) -> str:
    """A declared role's permissions in words; a role added in the UI has none declared."""
    pairs = FAB_ROLES.get(name)
    return summary(pairs) if pairs else "no declared permissions (roles are declared in app/core/roles.py)"
