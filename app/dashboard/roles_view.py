# Flask-AppBuilder ships no type hints: its views and decorators are Any to mypy.
# mypy: allow-subclassing-any, allow-untyped-decorators
"""Admin -> Permissions by role: the matrix of app/core/roles.py in words, not regex tuples."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from flask_appbuilder import AppBuilder, BaseView, expose, has_access

from app.core.role_matrix import matrix
from app.core.roles import ALL_ROLES


class RoleMatrixView(BaseView):
    """Admins only (`RoleMatrix` is in no other role's list)."""

    route_base = "/admin/permissions"
    class_permission_name = "RoleMatrix"
    method_permission_name = {"index": "read"}
    base_permissions = ["can_read"]
    default_view = "index"

    @expose("/")
    @has_access
    def index(self) -> ResponseReturnValue:
        html: str = self.render_template(
            "dashboard/permissions.html", rows=matrix(), roles=ALL_ROLES, title="Permissions by role"
        )
        return html


def register(ab: AppBuilder) -> None:
    ab.add_view(RoleMatrixView, "Permissions by role", icon="fa-table", category="Security", href="/admin/permissions/")
