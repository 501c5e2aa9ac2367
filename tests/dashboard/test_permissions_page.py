"""Admin -> Permissions by role: a readable matrix built from app/core/roles.py."""

from __future__ import annotations

import pytest

from app.core.role_matrix import matrix, role_grants
from app.core.roles import ROLE_AGENT, ROLE_PRIVACY_OFFICER, ROLE_SUPPORT_MANAGER


def test_matrix_reads_the_role_declarations():
    assert role_grants(ROLE_AGENT)["Contact"] == ["read", "edit_notes"]
    rows = {row.resource: row for row in matrix()}
    assert rows["Contact"].actions[ROLE_AGENT] == ["view", "edit notes and tags"]
    assert rows["PrivacyRequest"].actions[ROLE_PRIVACY_OFFICER] == [
        "create",
        "view",
        "approve or deny (four eyes)",
        "download data exports",
        "see change history",
    ]
    assert rows["AuditLog"].actions[ROLE_SUPPORT_MANAGER] == []
    assert rows["WebhookEvent"].actions["Admin"] == ["everything"]


def test_admin_sees_the_matrix_in_words(login_as):
    resp = login_as("admin").get("/admin/permissions/")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="permission-matrix"' in html
    assert "edit notes and tags" in html
    assert "approve or deny (four eyes)" in html
    assert "^can_" not in html
    assert "Privacy Officer" in html


@pytest.mark.parametrize("role", ["manager", "agent", "privacy"])
def test_other_roles_are_refused(login_as, role):
    assert login_as(role).get("/admin/permissions/").status_code == 403


def test_roles_grid_shows_permissions_in_words(login_as):
    html = login_as("admin").get("/roles/list/").get_data(as_text=True)
    assert "^can_" not in html
    assert "Contacts: view, edit notes and tags" in html
    assert "everything" in html
