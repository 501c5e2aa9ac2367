"""Base for our REST resources: JWT only, foreign-key columns by name, and every malformed
request answered with a 4xx and a JSON reason (never a 500) in one place for every resource."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, request
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.api.convert import Model2SchemaConverter
from flask_appbuilder.exceptions import DatabaseException
from flask_appbuilder.hooks import before_request
from flask_appbuilder.security.api import SecurityApi
from marshmallow import ValidationError, fields, validates_schema
from marshmallow_sqlalchemy import SQLAlchemyAutoSchema
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from app import appbuilder
from app.core.exceptions import DomainError
from app.web.api_guard import (
    MalformedInput,
    check_query_arg,
    check_values,
    database_refusal,
    missing_references,
    parse_id,
    primary_key_column,
)
from app.web.grids import EstimatedCount, ScaleListMixin

logger = logging.getLogger(__name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class _ReferenceChecks:
    """Schema mixin: a foreign key that names no row is a field error (422), on every backend."""

    if TYPE_CHECKING:  # provided by the SQLAlchemyAutoSchema this is mixed into
        session: Any
        opts: Any

    @validates_schema
    def _references_exist(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not isinstance(data, dict):
            return
        problems = missing_references(self.session, self.opts.model, data)
        if problems:
            raise ValidationError(problems)


def auto_schema(
    model: type, columns: list[str], name: str, write_only: tuple[str, ...] = ()
) -> SQLAlchemyAutoSchema[Any]:
    """A flat schema of plain columns, foreign keys included (`page_id`, not nested pages).

    `write_only` columns (secrets such as page tokens) are accepted on input and never dumped.
    Integer columns take JSON integers only, as the OpenAPI document says.
    """

    meta = type(
        "Meta",
        (),
        {
            "model": model,
            "fields": tuple(columns),
            "include_fk": True,
            "include_relationships": True,
            "load_instance": True,
            "sqla_session": appbuilder.session,
        },
    )
    attrs: dict[str, Any] = {"Meta": meta}
    for column in write_only:
        if column in columns:
            attrs[column] = fields.String(load_only=True)
    schema_cls = type(name, (_ReferenceChecks, SQLAlchemyAutoSchema), attrs)
    schema: SQLAlchemyAutoSchema[Any] = schema_cls()
    for field in schema.fields.values():
        if isinstance(field, fields.Integer):
            field.strict = True  # 1.5 is refused, not silently stored as 1
    return schema


def api_http_error(exc: HTTPException) -> Any:
    """Routing errors under /api/ (no such route, wrong method) in JSON like the rest of the API;
    redirects and every other path keep Flask's own answer."""
    if exc.code is None or exc.code < 400 or not request.path.startswith("/api/"):
        return exc
    response = exc.get_response()  # keeps headers such as Allow
    response.set_data(json.dumps({"message": exc.description}))
    response.content_type = "application/json; charset=utf-8"
    return response


if TYPE_CHECKING:

    class _FabApi:
        """What RequestGuard uses of Flask-AppBuilder's BaseApi (untyped), for the type checker."""

        def response(self, code: int, **kwargs: Any) -> Response: ...
        def response_400(self, message: Any = None) -> Response: ...
        def response_404(self) -> Response: ...
        def response_500(self, message: str | None = None) -> Response: ...

else:
    _FabApi = object


class RequestGuard(_FabApi):
    """For any FAB API (our resources, FAB's security API): malformed input is refused before
    the handler runs (400, or 404 for an id no row can have), and a database refusal of the
    request's data that escapes a handler is a 409/422/400 with the session rolled back. A bug
    is still a 500, logged with its traceback by FAB's @safe."""

    # -- before the handler: the request's shape --------------------------------------------

    @before_request
    def refuse_malformed_request(self) -> Response | None:
        """Runs before every route (FAB's hook), so no handler sees input that can only end in
        a driver error. Checks syntax only, never data, so it says nothing about rows to a
        caller that may not read them."""
        try:
            if not self._path_ids_can_exist():
                return self.response_404()
            self._check_query_args()
            self._check_body()
        except MalformedInput as exc:
            return self.response_400(message=str(exc))
        return None

    def _path_ids_can_exist(self) -> bool:
        """False for an id past its column's range (no such row: 404); MalformedInput for one
        that is not an integer."""
        for name, value in (request.view_args or {}).items():
            if name == "pk":
                model = getattr(getattr(self, "datamodel", None), "obj", None)
                column = primary_key_column(model) if model is not None else None
                if parse_id(value, column) is None:
                    return False
            elif isinstance(value, int) and parse_id(value, None) is None:
                return False
            elif isinstance(value, str):
                check_values(value)
        return True

    def _check_query_args(self) -> None:
        allow_json = current_app.config.get("FAB_API_ALLOW_JSON_QS", True)
        for key, values in request.args.lists():
            check_values(values)
            if key == "q":
                for value in values:
                    check_query_arg(value, allow_json)

    def _check_body(self) -> None:
        if request.is_json:
            try:
                body = request.get_json(silent=True)
            except RecursionError:
                raise MalformedInput("the JSON body is nested too deeply") from None
            check_values(body)
        elif request.mimetype in FORM_TYPES:
            check_values(list(request.form.lists()))

    # -- in the handler: what the database refuses ------------------------------------------

    def _refused(self, exc: BaseException) -> Response | None:
        """The client's answer for a database refusal of its data (session rolled back)."""
        refusal = database_refusal(exc)
        if refusal is None:
            return None
        appbuilder.session.rollback()
        status, message = refusal
        logger.info(
            "%s %s refused by the database: %s", request.method, request.path, type(getattr(exc, "orig", None)).__name__
        )
        return self.response(status, message=message)

    def response_500(self, message: str | None = None) -> Response:
        """FAB's @safe lands every uncaught exception here, already logged with its traceback.
        A database refusal of the request's data (from a custom action) is still the client's
        error; anything else stays a 500. Either way the session is rolled back."""
        exc = sys.exc_info()[1]
        refused = self._refused(exc) if exc is not None else None
        if refused is not None:
            return refused
        appbuilder.session.rollback()
        return super().response_500(message)


class OmniModelRestApi(RequestGuard, ScaleListMixin, ModelRestApi):
    """Every resource of ours: JWT (no browser session, so no CSRF gap), flat schemas, and the
    grids' counting (exact up to 10,000 rows, then the planner's estimate: a list call on
    10M messages never counts them all; `count_estimated` says which).

    Malformed input is refused for every route, custom actions included (RequestGuard); the
    standard routes also answer database refusals directly (no traceback logged for a 4xx),
    foreign keys naming no row are field errors, and FAB's raw SQL never reaches the client.
    """

    allow_browser_login = False
    csrf_exempt = True
    model2schemaconverter = Model2SchemaConverter
    write_only_columns: tuple[str, ...] = ()
    if TYPE_CHECKING:  # ModelRestApi's (Flask-AppBuilder is untyped)
        list_model_schema: Any
        show_model_schema: Any
        add_model_schema: Any
        edit_model_schema: Any

    def create_blueprint(self, appbuilder: Any, *args: Any, **kwargs: Any) -> Blueprint:
        blueprint: Blueprint = super().create_blueprint(appbuilder, *args, **kwargs)
        blueprint.app_errorhandler(HTTPException)(api_http_error)
        return blueprint

    def pre_get_list(self, data: dict[str, Any]) -> None:
        count = data.get("count")
        data["count_estimated"] = isinstance(count, EstimatedCount)
        if count is not None:
            data["count"] = int(count)

    def _init_model_schemas(self) -> None:
        model = self.datamodel.obj
        base = type(self).__name__
        if self.list_model_schema is None:
            self.list_model_schema = auto_schema(model, self.list_columns, f"{base}List")
        if self.show_model_schema is None:
            self.show_model_schema = auto_schema(model, self.show_columns, f"{base}Show")
        if self.add_model_schema is None and self.add_columns:
            self.add_model_schema = auto_schema(model, self.add_columns, f"{base}Add", self.write_only_columns)
        if self.edit_model_schema is None and self.edit_columns:
            self.edit_model_schema = auto_schema(model, self.edit_columns, f"{base}Edit", self.write_only_columns)
        super()._init_model_schemas()

    def _refusals(self, fn: Callable[[], Response]) -> Response:
        """Run a handler; database refusals and a service's DomainError as 4xx (a stray
        ValueError from a bug stays a 500 with its traceback)."""
        try:
            return fn()
        except (DataError, IntegrityError) as exc:
            refused = self._refused(exc)
            if refused is None:
                raise
            return refused
        except DomainError as exc:
            self.datamodel.session.rollback()
            return self.response(exc.status, message=str(exc))

    def response_422(self, message: Any = None) -> Response:
        """FAB answers a failed edit or delete from inside `except DatabaseException` with the
        raw driver message (SQL included): give the reason instead, 409 for a conflict."""
        exc = sys.exc_info()[1]
        if isinstance(exc, DatabaseException) and exc.__cause__ is not None:
            refused = self._refused(exc.__cause__)
            if refused is not None:
                return refused
            message = "the database refused the change"
        response: Response = super().response_422(message)
        return response

    def _merge_update_item(self, model_item: Any, data: Any) -> dict[str, Any]:
        """FAB's PUT-as-PATCH merge, for a JSON object only and without write-only columns
        (they are never dumped, so FAB's merge raised KeyError on them)."""
        if not isinstance(data, dict):
            raise ValidationError("send a JSON object")
        current = self.edit_model_schema.dump(model_item, many=False)
        for column in self.edit_columns:
            if column not in data and column in current:
                data[column] = current[column]
        return data

    def get_headless(self, pk: Any, **kwargs: Any) -> Response:
        return self._refusals(lambda: super(OmniModelRestApi, self).get_headless(pk, **kwargs))

    def get_list_headless(self, **kwargs: Any) -> Response:
        return self._refusals(lambda: super(OmniModelRestApi, self).get_list_headless(**kwargs))

    def post_headless(self) -> Response:
        return self._refusals(super().post_headless)

    def put_headless(self, pk: Any) -> Response:
        return self._refusals(lambda: super(OmniModelRestApi, self).put_headless(pk))

    def delete_headless(self, pk: Any) -> Response:
        return self._refusals(lambda: super(OmniModelRestApi, self).delete_headless(pk))


class OmniSecurityApi(RequestGuard, SecurityApi):
    """FAB's `/api/v1/security` (login, refresh) with the same guard; and a login body without
    `provider` is a 400 (FAB's schema lets it through, then its handler raised KeyError).
    Endpoint and permission names stay FAB's (`SecurityApi.login`)."""

    class_permission_name = "SecurityApi"

    def create_blueprint(self, appbuilder: Any, endpoint: str | None = None, **kwargs: Any) -> Blueprint:
        blueprint: Blueprint = super().create_blueprint(appbuilder, endpoint or "SecurityApi", **kwargs)
        return blueprint

    @before_request(only=["login"])
    def require_provider(self) -> Response | None:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and "provider" not in body:
            return self.response_400(message={"provider": ["Missing data for required field."]})
        return None
