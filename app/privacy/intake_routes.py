"""Public intake form `/privacy/request` (CSRF-protected, rate-limited; see intake.py)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from app import db
from app.privacy import intake
from app.privacy.models import RequestType

bp = Blueprint("privacy_intake", __name__)

TYPE_CHOICES = {
    RequestType.ACCESS: "A copy of my data",
    RequestType.ERASURE: "Delete my data",
    RequestType.RECTIFICATION: "Correct my data",
    RequestType.RESTRICTION: "Stop processing my data for now",
    RequestType.MARKETING_OPT_OUT: "No more marketing messages",
}


@bp.route("/privacy/request", methods=["GET", "POST"])
def request_form() -> ResponseReturnValue:
    form = {k: v for k, v in request.form.items() if k != "csrf_token"} if request.method == "POST" else {}
    error = None
    if request.method == "POST":
        try:
            token = intake.do_submit(form, request.remote_addr or "")
        except intake.IntakeError as exc:
            db.session.rollback()
            error = exc
        else:
            return redirect(url_for(".verify", token=token), 303)
    status = error.status if error is not None else 200
    return render_template("privacy/request_form.html", form=form, error=error, types=TYPE_CHOICES), status


@bp.route("/privacy/request/verify/<token>", methods=["GET", "POST"])
def verify(token: str) -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        try:
            req = intake.do_verify(token, request.form.get("code", ""))
        except intake.IntakeError as exc:
            db.session.rollback()
            error = exc
        else:
            return render_template("privacy/request_done.html", req=req, types=TYPE_CHOICES), 201
    status = error.status if error is not None else 200
    return render_template("privacy/request_verify.html", token=token, error=error), status
