"""Base for our REST resources: JWT only, foreign-key columns by name, service errors as 422."""

from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.api.convert import Model2SchemaConverter
from marshmallow import fields
from marshmallow_sqlalchemy import SQLAlchemyAutoSchema
from werkzeug.wrappers import Response

from app.core.exceptions import DomainError
from app.core.grids import EstimatedCount, ScaleListMixin

logger = logging.getLogger(__name__)


def auto_schema(model: type, columns: list[str], name: str, write_only: tuple[str, ...] = ()) -> SQLAlchemyAutoSchema:
    """A flat schema of plain columns, foreign keys included (`page_id`, not nested pages).

    `write_only` columns (secrets such as page tokens) are accepted on input and never dumped.
    """

    class Meta:
        pass

    Meta.model = model
    Meta.fields = tuple(columns)
    Meta.include_fk = True
    Meta.include_relationships = True
    Meta.load_instance = True
    Meta.sqla_session = current_app.appbuilder.session
    attrs: dict = {"Meta": Meta}
    for column in write_only:
        if column in columns:
            attrs[column] = fields.String(load_only=True)
    schema_cls = type(name, (SQLAlchemyAutoSchema,), attrs)
    return schema_cls()


class OmniModelRestApi(ScaleListMixin, ModelRestApi):
    """Every resource of ours: JWT (no browser session, so no CSRF gap), flat schemas, and the
    grids' counting (exact up to 10,000 rows, then the planner's estimate: a list call on
    10M messages never counts them all; `count_estimated` says which)."""

    allow_browser_login = False
    csrf_exempt = True
    model2schemaconverter = Model2SchemaConverter
    write_only_columns: tuple[str, ...] = ()

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

    def _service_errors(self, fn: Any) -> Response:
        """A refused change (ValueError from a service) is a 422 with the reason, never a 500."""
        try:
            return fn()
        except DomainError as exc:
            self.datamodel.session.rollback()
            if exc.status != 422:
                return self.response(exc.status, message=str(exc))
            return self.response_422(message=str(exc))

    def post_headless(self) -> Response:
        return self._service_errors(super().post_headless)

    def put_headless(self, pk: Any) -> Response:
        return self._service_errors(lambda: super(OmniModelRestApi, self).put_headless(pk))
