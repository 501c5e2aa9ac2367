"""Audit log grid (read-only), CSV export of a filtered range, and a record's history."""

# mypy: allow-subclassing-any, allow-untyped-decorators
# (Flask-AppBuilder ships no type hints: its Model, views and decorators are Any to mypy.)
from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from flask import Response, flash, jsonify, redirect, request, stream_with_context, url_for
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.urltools import get_filter_args
from flask_login import current_user
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse

from app import db
from app.audit import verify_runs
from app.audit.chain import COLUMNS
from app.audit.models import AuditLog
from app.audit.permissions import READ_ONLY
from app.audit.readable import EMPTY, action_label, change_rows, entity_label, when
from app.audit.service import record

logger = logging.getLogger(__name__)

CSV_COLUMNS = list(COLUMNS)
HISTORY_LIMIT = 500
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """A CSV cell a spreadsheet won't execute: leading = + - @ get a ' prefix."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.isoformat(timespec="seconds")
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    else:
        text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        text = "'" + text
    return text


def changes_table(changes: Any) -> Markup:
    """The changes of one entry as a small table (every value escaped)."""
    rows = change_rows(changes)
    if not rows:
        return Markup("—")
    body = Markup("").join(
        Markup("<tr><th>{}</th><td>{}</td><td>{}</td></tr>").format(field, before, after)
        for field, before, after in rows
    )
    return Markup(
        '<table class="table table-condensed audit-changes"><thead><tr><th>Field</th><th>Before</th>'
        "<th>After</th></tr></thead><tbody>{}</tbody></table>"
    ).format(body)


def _stamp(value: str | None) -> str:
    """A stored ISO time of a verification run, readable."""
    try:
        return when(datetime.fromisoformat(value)) if value else EMPTY
    except ValueError:
        return EMPTY


def _dash(value: Any) -> str:
    return EMPTY if value is None or value == "" else str(value)


READABLE = {
    "created_at": when,
    "action": action_label,
    "entity_type": entity_label,
    "changes": changes_table,
    "ip": _dash,
    "user_agent": _dash,
    "request_id": _dash,
    "entity_id": _dash,
    "actor_id": _dash,
}


def filtered_query(filters: Any = None, start: datetime | None = None, end: datetime | None = None) -> Any:
    """Audit rows in id order, narrowed by the grid's filters and/or a date range."""
    query = db.session.query(AuditLog)
    if filters is not None:
        query = filters.apply_all(query)
    if start is not None:
        query = query.filter(AuditLog.created_at >= start)
    if end is not None:
        query = query.filter(AuditLog.created_at < end)
    return query.order_by(AuditLog.id)


def csv_lines(query: Any) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    yield buf.getvalue()
    for row in query.yield_per(1000):
        buf.seek(0)
        buf.truncate()
        writer.writerow([csv_cell(getattr(row, c)) for c in CSV_COLUMNS])
        yield buf.getvalue()


def write_csv(out: IO[str], query: Any) -> int:
    """Write rows as CSV; returns the number of data rows."""
    count = -1
    for line in csv_lines(query):
        out.write(line)
        count += 1
    return count


class AuditLogModelView(ModelView):
    datamodel = SQLAInterface(AuditLog)
    class_permission_name = "AuditLog"
    method_permission_name = {
        **READ_ONLY,
        "export": "export",
        "history": "read",
        "verify": "verify",
        "verify_status": "read",
    }
    base_permissions = ["can_read", "can_export", "can_verify"]
    list_title = "Audit log"
    show_title = "Audit entry"
    list_template = "audit/list.html"
    list_columns = ["created_at", "actor_name", "action", "entity_type", "entity_id", "ip"]
    show_columns = CSV_COLUMNS
    search_columns = ["actor_name", "actor_id", "action", "entity_type", "entity_id", "created_at", "request_id"]
    order_columns = ["id", "created_at", "action", "actor_name"]
    base_order = ("id", "desc")
    page_size = 50
    formatters_columns = READABLE
    label_columns = {
        "created_at": "When",
        "actor_name": "Who",
        "actor_id": "User id",
        "entity_type": "Record type",
        "entity_id": "Record id",
        "ip": "IP address",
        "user_agent": "Browser",
        "request_id": "Request id",
        "prev_hash": "Previous hash",
    }

    def render_template(self, template: str, **kwargs: Any) -> Any:
        """Every audit page gets the last "Verify chain" run and whether this user may start one."""
        if template == self.list_template:
            kwargs.setdefault("verify", verify_runs.status())
            kwargs.setdefault("stamp", _stamp)
            kwargs.setdefault("can_verify", self.appbuilder.sm.has_access("can_verify", self.class_permission_name))
        return super().render_template(template, **kwargs)

    @expose("/verify", methods=["POST"])
    @has_access
    def verify(self) -> WerkzeugResponse:
        """Queue a chain verification (one at a time); the grid shows its state and result."""
        current = verify_runs.status()
        if verify_runs.is_busy(current):
            flash("A verification is already queued or running; its result shows here when it ends.", "info")
        else:
            verify_runs.request_verification(getattr(current_user, "username", None) or "unknown")
            flash("Chain verification queued; the result shows here when a worker has run it.", "info")
        return redirect(url_for(".list"), 303)

    @expose("/verify/status")
    @has_access
    def verify_status(self) -> Response:
        """The last run as JSON (the grid polls it while a run is queued or running)."""
        return jsonify(verify_runs.status() or {"state": "never"})

    @expose("/export/")
    @has_access
    def export(self) -> Response:
        """CSV of the rows matching the grid's current filters (`_flt_*` args)."""
        get_filter_args(self._filters)
        filters = self._filters.get_joined_filters(self._base_filters)
        query = filtered_query(filters)
        count = query.order_by(None).count()
        record(
            "audit_exported",
            "audit_log",
            None,
            {"rows": count, "filters": {k: v for k, v in request.args.items() if k.startswith("_flt_")}},
        )
        db.session.commit()
        name = f"audit-log-{datetime.now().strftime('%Y%m%d-%H%M%S')}.csv"
        return Response(
            stream_with_context(csv_lines(filtered_query(filters))),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )

    @expose("/history/<entity_type>/<entity_id>")
    @has_access
    def history(self, entity_type: str, entity_id: str) -> Any:
        """Every audit entry of one record, newest first."""
        rows = (
            db.session.query(AuditLog)
            .filter(AuditLog.entity_type == entity_type[:64], AuditLog.entity_id == entity_id[:64])
            .order_by(AuditLog.id.desc())
            .limit(HISTORY_LIMIT + 1)
            .all()
        )
        return self.render_template(
            "audit/history.html",
            rows=rows[:HISTORY_LIMIT],
            truncated=len(rows) > HISTORY_LIMIT,
            entity_type=entity_type,
            entity_id=entity_id,
            when=when,
            action_label=action_label,
            entity_label=entity_label,
            changes_table=changes_table,
        )
