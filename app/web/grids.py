"""Admin grids that stay fast on big tables (1M contacts, 10M messages).

Flask-AppBuilder's list views call ``datamodel.query_count()`` on every page: a full
``COUNT(*)`` over the filtered rows, which on PostgreSQL scans millions of rows. Here the count
is exact while it is small (counted with a ``LIMIT``, so it never reads more than
``threshold + 1`` rows) and, above the threshold, the planner's estimate of the filtered query
(``EXPLAIN``), shown in the grid as "about N". Apply ``ScaleListMixin`` as the first base of a
``ModelView``; nothing else changes (paging, filters and sorting stay FAB's).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.utils.base import is_column_dotted
from sqlalchemy import func, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Query

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 10_000
# from this OFFSET on, page rows are found on keys only, then fetched ("deferred join")
DEFERRED_JOIN_OFFSET = 1_000


class EstimatedCount(int):
    """An int that renders as "about N" in templates; arithmetic (paging) uses the number."""

    def display(self) -> str:
        value = int(self)
        # two significant figures: an estimate should not look precise
        digits = len(str(value))
        if digits > 2:
            factor = 10 ** (digits - 2)
            value = round(value / factor) * factor
        return f"about {value:,}"

    def __str__(self) -> str:
        return self.display()

    def __html__(self) -> str:
        return self.display()


def _plan_rows(plan: Any) -> int | None:
    """Rows estimated by the top node of an ``EXPLAIN (FORMAT JSON)`` result."""
    if isinstance(plan, str):
        plan = json.loads(plan)
    try:
        return int(plan[0]["Plan"]["Plan Rows"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def _keys_only(query: Query[Any]) -> Query[Any]:
    """The same rows, selecting only the primary key (keeps the FROM even with no filter)."""
    entity = query.column_descriptions[0]["entity"]
    keys: Query[Any] = query.enable_eagerloads(False).with_entities(*sa_inspect(entity, raiseerr=True).primary_key)
    return keys.order_by(None)


def planner_estimate(session: Any, query: Query[Any]) -> int | None:
    """PostgreSQL's estimate of how many rows ``query`` returns (no rows are read)."""
    stmt = _keys_only(query).statement
    conn = session.connection()
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    try:
        with conn.begin_nested():
            plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + compiled.string, compiled.params).scalar()
    except Exception:  # an estimate is optional: never break the grid for it
        logger.warning("planner estimate failed", exc_info=True)
        return None
    return _plan_rows(plan)


def table_estimate(session: Any, query: Query[Any]) -> int | None:
    """pg_class.reltuples of the query's main table (kept current by autovacuum/ANALYZE)."""
    table = sa_inspect(query.column_descriptions[0]["entity"], raiseerr=True).local_table
    value = session.execute(
        text("SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)"), {"name": table.name}
    ).scalar()
    return None if value is None or value < 0 else int(value)  # -1: never analyzed


def capped_count(session: Any, query: Query[Any], cap: int) -> int:
    """Exact count, but reading at most ``cap`` rows (so returns ``cap`` when there are more)."""
    sub = _keys_only(query).limit(cap).subquery()
    return int(session.execute(select(func.count()).select_from(sub)).scalar_one())


def smart_count(session: Any, query: Query[Any], threshold: int = DEFAULT_THRESHOLD) -> int:
    """Exact count up to ``threshold`` rows; above it the planner's estimate as EstimatedCount.

    PostgreSQL: a small table (pg_class.reltuples) is simply counted; an unfiltered big one
    answers with reltuples; a filtered one asks the planner (about a millisecond) and a big
    estimate is returned as is, so a million-row grid never counts. A small estimate is checked
    with a capped count, which reads at most ``threshold + 1`` rows.
    """
    if session.get_bind().dialect.name != "postgresql":
        exact = capped_count(session, query, threshold + 1)
        return exact if exact <= threshold else query.order_by(None).count()
    table_rows = table_estimate(session, query)
    if table_rows is not None and table_rows <= threshold:
        exact = capped_count(session, query, threshold + 1)  # a small table: just count
        if exact <= threshold:
            return exact
    elif table_rows is not None and query.whereclause is None:
        return EstimatedCount(table_rows)  # unfiltered: the table's own row estimate
    estimate = planner_estimate(session, query)
    if estimate is not None and estimate > threshold:
        return EstimatedCount(estimate)
    exact = capped_count(session, query, threshold + 1)
    if exact <= threshold:
        return exact
    return EstimatedCount(max(estimate or 0, threshold + 1))


class EstimatedCountInterface(SQLAInterface):
    """SQLAInterface whose ``query_count`` is ``smart_count`` (used by ScaleListMixin)."""

    def __init__(self, obj: type, session: Any = None, threshold: int = DEFAULT_THRESHOLD) -> None:
        super().__init__(obj, session)
        self.count_threshold = threshold

    def query_count(self, query: Query[Any], filters: Any = None, select_columns: list[str] | None = None) -> int:
        inner = self._apply_inner_all(query, filters, select_columns=select_columns, aliases_mapping={})
        return smart_count(self.session, inner, self.count_threshold)

    def query(
        self,
        filters: Any = None,
        order_column: str = "",
        order_direction: str = "",
        page: int | None = None,
        page_size: int | None = None,
        select_columns: list[str] | None = None,
        outer_default_load: bool = False,
    ) -> tuple[int, list[Any]]:
        """FAB's query; an estimate contradicted by a short first page becomes the exact count."""
        count, rows = super().query(
            filters, order_column, order_direction, page, page_size, select_columns, outer_default_load
        )
        if isinstance(count, EstimatedCount) and not page and page_size and len(rows) < page_size:
            count = len(rows)
        return count, rows

    def apply_all(
        self,
        query: Query[Any],
        filters: Any = None,
        order_column: str = "",
        order_direction: str = "",
        page: int | None = None,
        page_size: int | None = None,
        select_columns: list[str] | None = None,
        outer_default_load: bool = False,
    ) -> Query[Any]:
        """FAB's query, but deep pages (big OFFSET) skip rows on an index-only scan of the keys.

        ``ORDER BY x, id OFFSET 12475`` otherwise reads 12,500 full rows to return 25; the keys
        come from the ``(x, id)`` index alone, then only the 25 rows are fetched.
        """
        args = (query, filters, order_column, order_direction, page, page_size, select_columns, outer_default_load)
        offset = (page or 0) * (page_size or 0)
        if (
            offset < DEFERRED_JOIN_OFFSET
            or not order_column
            or select_columns
            or is_column_dotted(order_column)
            or self.session.get_bind().dialect.name != "postgresql"
        ):
            plain: Query[Any] = super().apply_all(*args)
            return plain
        keys = super().apply_all(*args).enable_eagerloads(False)
        pks = sa_inspect(self.obj).primary_key
        if len(pks) != 1:
            plain = super().apply_all(*args)
            return plain
        page_keys = keys.with_entities(pks[0]).subquery()
        rows = self.session.query(self.obj).filter(pks[0].in_(select(page_keys.c[0])))
        ordered: Query[Any] = self.apply_order_by(rows, order_column, order_direction, add_pk=True)
        return ordered


class ScaleListMixin:
    """ModelView mixin: estimated counts above ``count_estimate_threshold`` rows.

    Put it first in the bases (``class ContactModelView(ScaleListMixin, ModelView)``). The
    view's ``datamodel`` is swapped, per instance, for an ``EstimatedCountInterface`` on the
    same model; related views and REST APIs keep their own interfaces.
    """

    count_estimate_threshold: int = DEFAULT_THRESHOLD

    def __init__(self, **kwargs: Any) -> None:
        datamodel = getattr(self, "datamodel", None)
        if datamodel is not None and not isinstance(datamodel, EstimatedCountInterface):
            self.datamodel = EstimatedCountInterface(
                datamodel.obj, datamodel._session, threshold=self.count_estimate_threshold
            )
        super().__init__(**kwargs)
