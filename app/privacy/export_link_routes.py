"""Public page `/privacy/export/<token>`: the requester types the confirmation code and gets
their access export once (CSRF-protected, rate-limited; rules in export_link.py)."""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request, stream_with_context
from flask.typing import ResponseReturnValue

from app import db
from app.privacy import export_link

bp = Blueprint("privacy_export", __name__)

_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}


def _gone() -> ResponseReturnValue:
    """The one answer for unknown, expired, used, revoked and burned links."""
    return render_template("privacy/export_gone.html"), 404, _PRIVATE


@bp.route("/privacy/export/<token>", methods=["GET", "POST"])
def export_download(token: str) -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        try:
            req, chunks = export_link.redeem(token, request.form.get("code", "")[:200], request.remote_addr or "")
        except export_link.LinkGone:
            db.session.rollback()
            return _gone()
        except export_link.LinkError as exc:
            db.session.rollback()
            error = exc
        else:
            return Response(
                stream_with_context(chunks),
                mimetype="application/zip",
                headers={**_PRIVATE, "Content-Disposition": f'attachment; filename="privacy-request-{req.id}.zip"'},
            )
    else:
        try:
            export_link.find_live(token)
        except export_link.LinkGone:
            return _gone()
    status = error.status if error is not None else 200
    return render_template("privacy/export_download.html", token=token, error=error), status, _PRIVATE
