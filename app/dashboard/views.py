"""Home page: what needs attention now, per role."""

from __future__ import annotations

from flask import redirect, url_for
from flask_appbuilder import AppBuilder, IndexView, expose
from flask_login import current_user


class DashboardIndexView(IndexView):
    """Anonymous users go to the login page; everyone else sees the dashboard."""

    @expose("/")
    def index(self):
        if not current_user.is_authenticated:
            return redirect(url_for(self.appbuilder.sm.auth_view.__class__.__name__ + ".login"))
        from app.dashboard import services

        return self.render_template("dashboard/index.html", stats=services.summary())


def register(ab: AppBuilder) -> None:
    """The index view is installed by FAB_INDEX_VIEW; nothing else to add yet."""
