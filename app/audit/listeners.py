"""SQLAlchemy session listeners: the one place that audits every insert/update/delete.

`after_flush` turns the flush's new/dirty/deleted objects into audit rows and appends them,
chained, with one executemany in the same transaction (so the audit row commits or rolls back
with the change). `do_orm_execute` audits ORM bulk UPDATE/DELETE statements (retention,
erasure) as one row per statement with the row count.

Volume: inserts/updates of `message` and `webhook_event` made by a non-person actor (webhook
worker, system) are aggregated into one row per table and action per flush, holding the count,
the ids and the changed field names (no values). Everything else gets one row per record.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from flask import Flask, current_app, flash, request
from flask_login import current_user
from sqlalchemy import event, inspect
from sqlalchemy.orm import Mapper, ORMExecuteState, Session
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE

from app import db
from app.audit import service
from app.core.context import current_actor, current_request_id

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

logger = logging.getLogger(__name__)

SKIP_TABLES = frozenset({"audit_log", "audit_head"})
# Flask-AppBuilder's own tables: only users and roles are audited.
FAB_AUDITED = frozenset({"ab_user", "ab_role"})
# ab_user: values never, only names (and role names for role membership changes).
NAMES_ONLY_TABLES = frozenset({"ab_user"})
# Login bookkeeping is covered by the login/login_failed events themselves.
AUTH_BOOKKEEPING = frozenset({"last_login", "login_count", "fail_login_count", "changed_on", "changed_by_fk"})
HIGH_VOLUME_TABLES = frozenset({"message", "webhook_event"})
# Personal fields beyond service.PERSONAL_FIELDS, by table: a contact's tags and locale describe
# the person (and outlived erasure in old audit rows), so only their names are recorded.
PERSONAL_BY_TABLE: dict[str, frozenset[str]] = {"contact": frozenset({"tags", "locale", "username"})}
MAX_IDS = 1000

_disabled: contextvars.ContextVar[bool] = contextvars.ContextVar("audit_disabled", default=False)
_installed = False
_personal_cache: dict[Mapper[Any], frozenset[str]] = {}


@contextmanager
def disabled() -> Iterator[None]:
    """Turn the listeners off for a block (benchmarks, the archive command)."""
    token = _disabled.set(True)
    try:
        yield
    finally:
        _disabled.reset(token)


def _table_of(mapper: Mapper[Any]) -> str | None:
    table: str | None = getattr(mapper.local_table, "name", None)
    if table is None or table in SKIP_TABLES:
        return None
    if table.startswith("ab_") and table not in FAB_AUDITED:
        return None
    return table


def _personal_keys(mapper: Mapper[Any]) -> frozenset[str]:
    """Attribute keys whose values never enter an audit row: by name, or encrypted columns."""
    keys = _personal_cache.get(mapper)
    if keys is None:
        found = set()
        extra = PERSONAL_BY_TABLE.get(getattr(mapper.local_table, "name", ""), frozenset())
        for attr in mapper.column_attrs:
            col = attr.columns[0]
            type_name = type(getattr(col, "type", None)).__name__
            if (
                attr.key in service.PERSONAL_FIELDS
                or attr.key in extra
                or getattr(col, "name", "") in service.PERSONAL_FIELDS
                or "Encrypted" in type_name
                or (getattr(col, "info", None) or {}).get("personal")
            ):
                found.add(attr.key)
        keys = frozenset(found)
        _personal_cache[mapper] = keys
    return keys


def _pk(state: Any) -> Any:
    """The primary key from the instance's dict (identity keys are assigned after after_flush)."""
    mapper = state.mapper
    values = [state.dict.get(mapper.get_property_by_column(col).key) for col in mapper.primary_key]
    if state.identity and all(v is None for v in values):
        values = list(state.identity)
    return values[0] if len(values) == 1 else "-".join(str(v) for v in values)


def _insert_changes(state: Any, mapper: Mapper[Any], table: str) -> dict[str, Any]:
    personal = _personal_keys(mapper)
    names_only = table in NAMES_ONLY_TABLES
    data = state.dict
    changes: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        key = attr.key
        value = data.get(key)
        if value is None:
            continue
        changes[key] = service.REDACTED if names_only or key in personal else service.jsonable(value)
    return changes


def _update_changes(state: Any, mapper: Mapper[Any], table: str) -> dict[str, Any]:
    personal = _personal_keys(mapper)
    names_only = table in NAMES_ONLY_TABLES
    changes: dict[str, Any] = {}
    # A column has a change only once its committed value was kept (`committed_state`): only
    # those are read, and without `state.attrs`, which builds a mapping of every attribute on
    # each access (the worker's flushes update conversations and contacts by the thousand).
    modified = state.committed_state
    for attr in mapper.column_attrs:
        if attr.key not in modified:
            continue
        hist = state.get_history(attr.key, PASSIVE_NO_INITIALIZE)
        if not hist.has_changes():
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if old == new and hist.deleted:
            continue
        if names_only or attr.key in personal:
            changes[attr.key] = service.REDACTED
        else:
            changes[attr.key] = {"old": service.jsonable(old), "new": service.jsonable(new)}
    for rel in mapper.relationships:
        if rel.direction.name != "MANYTOMANY":
            continue
        hist = state.get_history(rel.key, PASSIVE_NO_INITIALIZE)
        if not hist.added and not hist.deleted:
            continue
        target = _table_of(rel.mapper)
        if target in FAB_AUDITED:  # e.g. a user's roles: role names are not personal
            changes[rel.key] = {
                "added": sorted(str(getattr(o, "name", _pk(inspect(o)))) for o in hist.added),
                "removed": sorted(str(getattr(o, "name", _pk(inspect(o)))) for o in hist.deleted),
            }
        else:
            changes[rel.key] = {"added": len(hist.added), "removed": len(hist.deleted)}
    return changes


def _delete_changes(state: Any, mapper: Mapper[Any], table: str) -> dict[str, Any]:
    return _insert_changes(state, mapper, table)


def _update_action(table: str, changes: dict[str, Any]) -> str:
    if table == "ab_user" and "password" in changes:
        return "password_changed"
    return "update"


def _after_flush(session: Session, flush_context: Any) -> None:
    session.info[service.TX_WRITES] = True
    if _disabled.get():
        return
    actor = current_actor()
    request_id = current_request_id()
    person = actor.id is not None
    rows: list[dict[str, Any]] = []
    aggregated: dict[tuple[str, str], dict[str, Any]] = {}

    def add(action: str, table: str, state: Any, changes: dict[str, Any]) -> None:
        if table in HIGH_VOLUME_TABLES and not person:
            agg = aggregated.setdefault((table, action), {"ids": [], "fields": set()})
            agg["ids"].append(_pk(state))
            agg["fields"].update(changes)
            return
        rows.append(service.make_row(action, table, _pk(state), changes, actor=actor, request_id=request_id))

    for kind, objects in (("insert", session.new), ("update", session.dirty), ("delete", session.deleted)):
        items = []
        for obj in objects:
            state = inspect(obj)
            mapper = state.mapper
            table = _table_of(mapper)
            if table is None:
                continue
            items.append((table, state, mapper))
        items.sort(key=lambda t: (t[0], str(_pk(t[1]))))
        for table, state, mapper in items:
            if kind == "insert":
                add("insert", table, state, _insert_changes(state, mapper, table))
            elif kind == "delete":
                add("delete", table, state, _delete_changes(state, mapper, table))
            else:
                changes = _update_changes(state, mapper, table)
                if not changes:
                    continue
                if table == "ab_user" and set(changes) <= AUTH_BOOKKEEPING:
                    continue
                add(_update_action(table, changes), table, state, changes)

    for (table, action), agg in aggregated.items():
        ids = agg["ids"]
        changes = {"count": len(ids), "ids": ids[:MAX_IDS], "fields": sorted(agg["fields"])}
        entity_id = ids[0] if len(ids) == 1 else None
        rows.append(service.make_row(action, table, entity_id, changes, actor=actor, request_id=request_id))

    if rows:
        service.append_rows(session.connection(), rows)


def _statement_fields(statement: Any) -> list[str]:
    values = getattr(statement, "_values", None) or {}
    names = []
    for key in values:
        names.append(str(getattr(key, "key", None) or getattr(key, "name", None) or key))
    return sorted(names)


def _on_orm_execute(state: ORMExecuteState) -> Any:
    if _disabled.get() or not (state.is_update or state.is_delete):
        return None
    mapper = state.bind_mapper
    table = _table_of(mapper) if mapper is not None else None
    if table is None:
        return None
    result = state.invoke_statement()
    count = cast("CursorResult[Any]", result).rowcount  # UPDATE/DELETE: a cursor result
    if count:
        changes: dict[str, Any] = {"count": count}
        if state.is_update:
            changes["fields"] = _statement_fields(state.statement)
        action = "bulk_update" if state.is_update else "bulk_delete"
        state.session.info[service.TX_WRITES] = True
        service.append_rows(state.session.connection(), [service.make_row(action, table, None, changes)])
    return result


def _after_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(service.TX_WRITES, None)


def _alert_banner() -> None:
    """Admins and auditors see an open chain-broken alert on the dashboard and the audit grid."""
    if request.method != "GET" or request.endpoint not in {"DashboardIndexView.index", "AuditLogModelView.list"}:
        return
    if not current_user.is_authenticated:
        return
    if not current_app.extensions["appbuilder"].sm.has_access("can_read", "AuditLog"):
        return
    alert = service.current_alert()
    if alert:
        flash(
            f"Audit chain broken at row {alert.get('row_id')}: {alert.get('reason')} (detected {alert.get('at')}).",
            "danger",
        )


def install(app: Flask) -> None:
    """Attach the listeners once per process."""
    global _installed
    app.before_request(_alert_banner)
    if _installed:
        return
    session_class = db.session.session_factory.class_
    event.listen(session_class, "after_flush", _after_flush)
    event.listen(session_class, "do_orm_execute", _on_orm_execute, retval=True)
    event.listen(session_class, "after_transaction_end", _after_transaction_end)
    _installed = True
    logger.debug("audit listeners installed on %s", session_class.__name__)
