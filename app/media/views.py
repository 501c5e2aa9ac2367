"""`GET /media/<id>`: one stored attachment file, decrypted, for the people who may read the
conversation it belongs to (the `Conversation` resource's `read`: Agents, Support Managers,
Admins; not Privacy Officers).

Served with its stored content type and `nosniff`, inline only for pictures, video and sound
a browser shows safely (a download otherwise), in a sandbox with no script, privately cached.
"""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its views and decorators are Any to mypy.)
from __future__ import annotations

from flask import Response, abort
from flask_appbuilder import AppBuilder, BaseView, expose, has_access

from app.media import services
from app.media.exceptions import MediaError

MEDIA_CSP = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"


class MediaView(BaseView):
    route_base = "/media"
    class_permission_name = "Conversation"
    method_permission_name = {"show": "read"}
    base_permissions = ["can_read"]
    default_view = "show"

    @expose("/<int:media_id>")
    @has_access
    def show(self, media_id: int) -> Response:
        try:
            row, data = services.stored_file(media_id)
        except MediaError:
            abort(404)
        resp = Response(data, mimetype=row.content_type or "application/octet-stream")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Content-Disposition"] = services.disposition(row)
        resp.headers["Cache-Control"] = "private, max-age=300"
        resp.headers["Content-Security-Policy"] = MEDIA_CSP
        return resp


def register(ab: AppBuilder) -> None:
    ab.add_view_no_menu(MediaView)
