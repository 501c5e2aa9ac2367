"""REST: `GET/POST /api/v1/me/availability` — the caller's own availability and capacity."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its BaseApi and decorators are Any to mypy.)
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import g, request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from werkzeug.wrappers import Response

from app import db
from app.conversations import availability
from app.web.api import RequestGuard

AVAILABILITY_METHODS = {"get_availability": "read", "set_availability": "write"}


class MyAvailabilityApi(RequestGuard, BaseApi):
    resource_name = "me"
    class_permission_name = "Availability"
    method_permission_name = AVAILABILITY_METHODS
    allow_browser_login = False
    csrf_exempt = True
    openapi_spec_tag = "Availability"

    if TYPE_CHECKING:  # Flask-AppBuilder's BaseApi answers, as it defines them (it ships no hints)

        def response(self, code: int, **kwargs: Any) -> Response: ...
        def response_400(self, message: Any = None) -> Response: ...

    @expose("/availability", methods=["GET"])
    @protect()
    @safe
    def get_availability(self) -> Response:
        """The caller's availability and capacity.
        ---
        get:
          responses:
            200:
              description: the caller's availability
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      availability: {type: string, enum: [online, away]}
                      capacity: {type: integer}
            401: {description: not logged in}
        """
        return self.response(200, **availability.get(g.user.id).as_dict())

    @expose("/availability", methods=["POST"])
    @protect()
    @safe
    def set_availability(self) -> Response:
        """Set the caller's availability (`online`/`away`) and/or capacity (0-1000).
        ---
        post:
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    availability: {type: string, enum: [online, away]}
                    capacity: {type: integer, minimum: 0, maximum: 1000}
          responses:
            200: {description: saved; the new values}
            400: {description: bad input, with the reason}
            401: {description: not logged in}
        """
        try:
            changes = availability.check_update(request.get_json(silent=True))
        except availability.AvailabilityError as exc:
            return self.response_400(message=str(exc))
        row = availability.do_update(g.user.id, changes)
        db.session.refresh(row)
        return self.response(200, **row.as_dict())
