# Flask-AppBuilder ships no type hints: its decorators are Any to mypy.
# mypy: allow-untyped-decorators
"""REST resource `privacy_request`: list/show/create, plus the decisions, the extension, matching a
web request and a rectification's corrections."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import request
from flask_appbuilder.api import expose, protect, safe
from werkzeug.wrappers import Response

from app import db
from app.contacts.models import Contact
from app.privacy import corrections, decisions, extensions, matching
from app.privacy.exceptions import PrivacyError
from app.privacy.interface import UrgencyInterface
from app.privacy.models import PrivacyRequest, RequestSource
from app.privacy.permissions import PRIVACY_METHODS
from app.privacy.requests import acting_user_id, create_request
from app.web.api import OmniModelRestApi

logger = logging.getLogger(__name__)

COLUMNS = [
    "id",
    "request_type",
    "contact_id",
    "subject_user_id",
    "status",
    "source",
    "requested_by_id",
    "approved_by_id",
    "received_at",
    "due_at",
    "decided_at",
    "completed_at",
    "confirmation_code",
    "reason",
    "progress",
    "result",
    "error",
    "export_expires_at",
    "jurisdiction",
    "extended_at",
    "extension_reason",
    "original_due_at",
    "identity_verified",
]


class PrivacyRequestApi(OmniModelRestApi):
    resource_name = "privacy_request"
    datamodel = UrgencyInterface(PrivacyRequest)
    class_permission_name = "PrivacyRequest"
    method_permission_name = {**PRIVACY_METHODS, "approve": "approve", "deny": "approve", "extend": "approve"}
    include_route_methods = {"get", "get_list", "info", "post", "approve", "deny", "extend", "match", "corrections"}
    list_columns = COLUMNS
    show_columns = COLUMNS
    add_columns = ["request_type", "contact_id"]
    search_columns = ["request_type", "status", "source", "contact_id", "due_at"]
    order_columns = ["id", "due_at", "status", "received_at"]
    openapi_spec_tag = "Privacy requests"

    if TYPE_CHECKING:  # Flask-AppBuilder's BaseApi answers, as it defines them (it ships no hints)

        def response(self, code: int, **kwargs: Any) -> Response: ...
        def response_400(self, message: str | None = None) -> Response: ...
        def response_404(self) -> Response: ...

    def post_headless(self) -> Response:
        """Create through the service (validation, due date, code, audit)."""
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message='send a JSON object: {"request_type": ..., "contact_id": ...}')
        contact_id = body.get("contact_id")
        if not isinstance(contact_id, int) or isinstance(contact_id, bool):
            return self.response_400(message="contact_id must be an integer")
        contact = db.session.get(Contact, contact_id)
        if contact is None:
            return self.response(422, message="no such contact")
        details = body.get("details")
        if details is not None and not isinstance(details, dict):
            return self.response_400(message="details must be an object")
        try:
            req = create_request(
                str(body.get("request_type") or ""),
                contact,
                source=RequestSource.STAFF,
                requested_by_id=acting_user_id(),
                details=details,
                identity_check=body.get("identity_check"),
            )
        except PrivacyError as exc:
            db.session.rollback()
            return self.response(422, message=str(exc))
        return self.response(201, id=req.id, result=self._brief(req))

    @staticmethod
    def _brief(req: PrivacyRequest) -> dict[str, Any]:
        return {
            "id": req.id,
            "request_type": req.request_type,
            "status": req.status,
            "due_at": req.due_at.isoformat(),
            "jurisdiction": req.jurisdiction,
            "extended_at": req.extended_at.isoformat() if req.extended_at else None,
            "confirmation_code": req.confirmation_code,
            "contact_id": req.contact_id,
            "identity_verified": req.identity_verified,
        }

    def _decide(self, pk: int, fn: Any) -> Response:
        req: PrivacyRequest | None = db.session.get(PrivacyRequest, pk)
        if req is None:
            return self.response_404()
        try:
            req = fn(req)
        except PrivacyError as exc:
            db.session.rollback()
            return self.response(exc.status, message=str(exc))
        return self.response(200, result=self._brief(req))

    @expose("/<int:pk>/approve", methods=["POST"])
    @protect()
    @safe
    def approve(self, pk: int) -> Response:
        """Approve (four eyes) and queue processing.
        ---
        post:
          parameters:
          - in: path
            name: pk
            schema: {type: integer}
          responses:
            200: {description: approved}
            404: {description: not found}
            422: {description: refused, with the reason}
        """
        return self._decide(pk, lambda req: decisions.approve(req, acting_user_id()))

    @expose("/<int:pk>/deny", methods=["POST"])
    @protect()
    @safe
    def deny(self, pk: int) -> Response:
        """Deny with a reason (four eyes).
        ---
        post:
          parameters:
          - in: path
            name: pk
            schema: {type: integer}
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    reason: {type: string}
          responses:
            200: {description: denied}
            404: {description: not found}
            422: {description: refused, with the reason}
        """
        body = request.get_json(silent=True)
        reason = body.get("reason") if isinstance(body, dict) else None
        if reason is not None and not isinstance(reason, str):
            return self.response_400(message="reason must be a string")
        return self._decide(pk, lambda req: decisions.deny(req, acting_user_id(), reason))

    @expose("/<int:pk>/extend", methods=["POST"])
    @protect()
    @safe
    def extend(self, pk: int) -> Response:
        """Extend the deadline once (GDPR: two months, CCPA: 45 days), with a reason the requester reads.
        ---
        post:
          parameters:
          - in: path
            name: pk
            schema: {type: integer}
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    reason: {type: string}
          responses:
            200: {description: extended}
            400: {description: malformed body}
            404: {description: not found}
            422: {description: refused, with the reason}
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("reason"), str):
            return self.response_400(message='send {"reason": "..."} (text the requester will read)')
        reason = body["reason"]
        return self._decide(pk, lambda req: extensions.do_extend(req, reason))

    @expose("/<int:pk>/match", methods=["POST"])
    @protect()
    @safe
    def match(self, pk: int) -> Response:
        """Tie a request from the public form to a contact and record how identity was verified.
        ---
        post:
          parameters:
          - in: path
            name: pk
            schema: {type: integer}
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  required: [contact_id, identity_check]
                  properties:
                    contact_id: {type: integer}
                    identity_check: {type: string}
          responses:
            200: {description: matched}
            400: {description: malformed body}
            404: {description: not found}
            422: {description: refused, with the reason}
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message='send {"contact_id": N, "identity_check": "how identity was verified"}')
        return self._decide(
            pk, lambda req: matching.match_request(req, body.get("contact_id"), body.get("identity_check"))
        )

    @expose("/<int:pk>/corrections", methods=["POST"])
    @protect()
    @safe
    def corrections(self, pk: int) -> Response:
        """Record what a pending rectification corrects (replacing earlier corrections).
        ---
        post:
          parameters:
          - in: path
            name: pk
            schema: {type: integer}
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  required: [fields]
                  properties:
                    fields:
                      type: object
                      properties:
                        first_name: {type: string}
                        last_name: {type: string}
                        locale: {type: string}
          responses:
            200: {description: recorded}
            400: {description: malformed body}
            404: {description: not found}
            422: {description: refused, with the reason}
        """
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(
                message='send {"fields": {"first_name": "...", "last_name": "...", "locale": "..."}}'
            )
        return self._decide(pk, lambda req: corrections.set_corrections(req, body.get("fields")))
