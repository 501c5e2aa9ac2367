"""Public privacy routes: Meta's data-deletion callback, its status page, the policy pages."""

from __future__ import annotations

import logging
import os
import re

from flask import Blueprint, current_app, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from app import db
from app.privacy import meta_callback, policy_settings, policy_versions
from app.privacy.exceptions import PrivacyError, SignedRequestError

logger = logging.getLogger(__name__)

bp = Blueprint("privacy_public", __name__)

POLICY_PATH = os.path.join(os.path.dirname(__file__), "policy.md")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_BULLET = re.compile(r"^[-*]\s+")


def _bad(reason: str, status: int = 400) -> ResponseReturnValue:
    """Public refusals are JSON with a safe reason, never an HTML error page."""
    return jsonify({"error": reason}), status


@bp.post("/privacy/facebook/data-deletion")
def facebook_data_deletion() -> ResponseReturnValue:
    """Meta Data Deletion Request Callback: verify, open erasure request(s), answer url + code."""
    signed = request.form.get("signed_request")
    if signed is None and request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # deep nesting is not a ValueError: silent=True does not catch it
            return _bad("body is not JSON")
        signed = body.get("signed_request") if isinstance(body, dict) else None
    try:
        payload = meta_callback.parse_signed_request(
            signed,
            current_app.config["FB_APP_SECRET"],
            max_age=int(current_app.config.get("SIGNED_REQUEST_MAX_AGE", 86400)),
        )
    except SignedRequestError as exc:
        logger.info("data-deletion callback refused: %s", exc)
        return _bad(str(exc))
    try:
        code = meta_callback.handle_deletion_callback(payload["user_id"])
    except PrivacyError as exc:
        db.session.rollback()
        return _bad(str(exc))
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    return jsonify({"url": f"{base}/privacy/deletion/{code}", "confirmation_code": code})


@bp.get("/privacy/deletion/<code>")
def deletion_status(code: str) -> ResponseReturnValue:
    """Status and dates of a deletion request, no personal data (HTML, or JSON on request)."""
    status = meta_callback.public_status(code)
    wants_json = request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    if status is None:
        if wants_json:
            return _bad("unknown confirmation code", 404)
        return render_template("privacy/deletion_status.html", status=None), 404
    if wants_json:
        return jsonify(status)
    return render_template("privacy/deletion_status.html", status=status)


def render_markdown(text: str) -> Markup:
    """A tiny safe Markdown subset: headings, lists, bold, paragraphs; everything escaped first."""
    out: list[str] = []
    para: list[str] = []
    in_list = False

    def inline(line: str) -> str:
        html = str(escape(line.rstrip()))
        html = _BOLD.sub(r"<strong>\1</strong>", html)
        return html + ("<br>" if line.endswith("  ") else "")

    def flush_para() -> None:
        if para:
            out.append("<p>" + "\n".join(para) + "</p>")
            para.clear()

    def close_list() -> None:
        nonlocal in_list
        if in_list:
            out.append("</ul>")
            in_list = False

    for raw in text.splitlines():
        line = raw.rstrip("\n")
        stripped = line.strip()
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        if heading:
            flush_para()
            close_list()
            level = len(heading.group(1))
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif re.match(r"^[-*]\s+", stripped):
            flush_para()
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append("<li>" + inline(_BULLET.sub("", stripped)) + "</li>")
        elif not stripped:
            flush_para()
            close_list()
        else:
            close_list()
            para.append(inline(line))
    flush_para()
    close_list()
    return Markup("\n".join(out))  # noqa: S704 - every piece was escaped above


def policy_text() -> tuple[str, str | None]:
    """The current published version (else the shipped policy) with the operator's settings
    filled in, and its Last Updated date (a published version's is its publication date)."""
    cfg = current_app.config
    version = policy_versions.current()
    if version is not None:
        when = version.published_at
        return policy_settings.fill(version.text, cfg), f"{when.day} {when:%B %Y} (version {version.version})"
    with open(POLICY_PATH, encoding="utf-8") as fh:
        text = fh.read()
    return policy_settings.fill(text, cfg), policy_settings.last_updated(cfg, POLICY_PATH)


@bp.get("/privacy")
def privacy_policy() -> ResponseReturnValue:
    """The privacy policy page; production refuses it (503) while a company setting is missing."""
    missing = policy_settings.problems(current_app.config)
    if missing and current_app.config.get("OMNICRM_ENV") == "production":
        logger.error("privacy policy not served: %s", "; ".join(missing))
        return render_template("privacy/policy_unavailable.html"), 503
    text, updated = policy_text()
    return render_template("privacy/policy.html", body=render_markdown(text), last_updated=updated)


@bp.get("/privacy/data-deletion")
def data_deletion_instructions() -> str:
    """How to have your data deleted (Meta links here from the app settings)."""
    return render_template(
        "privacy/data_deletion.html",
        email=current_app.config.get("PRIVACY_CONTACT_EMAIL"),
        base_url=current_app.config["PUBLIC_BASE_URL"],
        app_name=current_app.config.get("FB_APP_NAME") or current_app.config.get("APP_NAME") or "Omni CRM",
        company=current_app.config.get("COMPANY_NAME") or "",
    )
