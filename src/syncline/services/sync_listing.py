"""Use case: a page of a workspace's syncs with their health, in one query.

``GET /syncs`` is the heaviest read of the API (issue 16): as ORM entities it took three
statements (the count, the page, the health of the page) and loaded every column, the engine's
``state`` included, into the identity map. Here one Core statement returns the page's columns,
the filtered total (an uncorrelated scalar subquery, evaluated once) and each sync's last
outcome (correlated by the ``(sync_id, created_at)`` index, as for one sync in
``services.health``); the statement is built once per shape of filters and reused.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.domain.health import OUTCOME_STATUSES, Health, sync_health
from syncline.services.common import Page, PageRequest
from syncline.store.tables import Sync, SyncRun

__all__ = ["SyncFilters", "SyncView", "filter_parameters", "list_sync_views", "sync_filter_clauses"]

_SYNCS = Sync.__table__
_RUNS = SyncRun.__table__
# Every column a view of a sync shows: all but the engine's own state.
VIEW_COLUMNS = tuple(c for c in _SYNCS.c if c.name != "state")


class SyncFilters(NamedTuple):
    """The list's filters (``None``: not filtered on)."""

    status: str | None = None
    model_id: str | None = None
    destination_id: str | None = None
    q: str | None = None


class SyncView(NamedTuple):
    """One listed sync: its columns by name (no ``state``; a few more of the query's, such as
    ``total``) and its health."""

    values: Mapping[str, Any]
    health: Health


def sync_filter_clauses(table: Any, filters: SyncFilters) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of ``filters`` over ``table`` (the syncs table or an alias of it),
    with bound parameters named after the filters, so a statement can be built once."""
    clauses: list[sa.ColumnElement[bool]] = [table.c.workspace_id == sa.bindparam("workspace_id")]
    if filters.status:
        clauses.append(table.c.status == sa.bindparam("status"))
    if filters.model_id:
        clauses.append(table.c.model_id == sa.bindparam("model_id"))
    if filters.destination_id:
        clauses.append(table.c.destination_id == sa.bindparam("destination_id"))
    if filters.q:
        clauses.append(sa.func.lower(table.c.name).contains(sa.bindparam("q"), escape="/"))
    return clauses


def filter_parameters(workspace_id: str, filters: SyncFilters) -> dict[str, Any]:
    """The values of the bound parameters :func:`sync_filter_clauses` names."""
    params: dict[str, Any] = {"workspace_id": workspace_id}
    if filters.status:
        params["status"] = filters.status
    if filters.model_id:
        params["model_id"] = filters.model_id
    if filters.destination_id:
        params["destination_id"] = filters.destination_id
    if filters.q:
        # "name contains q", literally: LIKE's wildcards and the escape character escaped.
        escaped = filters.q.lower().replace("/", "//").replace("%", "/%").replace("_", "/_")
        params["q"] = escaped
    return params


def _last_outcome(column: Any) -> sa.ScalarSelect[Any]:
    """``column`` of the sync's newest run that completed or failed (NULL: none did)."""
    return (
        sa.select(column)
        .where(_RUNS.c.sync_id == _SYNCS.c.id, _RUNS.c.status.in_(OUTCOME_STATUSES))
        .order_by(_RUNS.c.created_at.desc(), _RUNS.c.id.desc())
        .limit(1)
        .correlate(_SYNCS)
        .scalar_subquery()
    )


@functools.cache
def _page_statement(
    shape: tuple[bool, bool, bool, bool], order: str, limited: bool, offset: bool
) -> sa.Select[Any]:
    """The page statement for one shape of filters and paging (built once, then cached)."""
    filters = SyncFilters(*(("x" if on else None) for on in shape))
    counted = _SYNCS.alias("counted")
    total = (
        sa.select(sa.func.count())
        .select_from(counted)
        .where(*sync_filter_clauses(counted, filters))
        .scalar_subquery()
    )
    direction = [
        c.desc() if order == "desc" else c.asc() for c in (_SYNCS.c.created_at, _SYNCS.c.id)
    ]
    stmt = (
        sa.select(
            *VIEW_COLUMNS,
            _last_outcome(_RUNS.c.status).label("last_outcome_status"),
            _last_outcome(_RUNS.c.result_class).label("last_outcome_result_class"),
            total.label("total"),
        )
        .where(*sync_filter_clauses(_SYNCS, filters))
        .order_by(*direction)
    )
    if offset:
        stmt = stmt.offset(sa.bindparam("offset", type_=sa.Integer))
    if limited:
        stmt = stmt.limit(sa.bindparam("limit", type_=sa.Integer))
    return stmt


def list_sync_views(
    session: Session, *, workspace_id: str, page: PageRequest, filters: SyncFilters
) -> Page[SyncView]:
    """A page of the workspace's syncs (oldest first unless ``page.order``), with health.

    Same rows, order and total as ``services.syncs.list_syncs``; one round trip unless the
    page is past the end (then the total is counted on its own).
    """
    shape = (
        bool(filters.status),
        bool(filters.model_id),
        bool(filters.destination_id),
        bool(filters.q),
    )
    limited, offset = page.per_page is not None, page.offset > 0
    params = filter_parameters(workspace_id, filters)
    if offset:
        params["offset"] = page.offset
    if limited:
        params["limit"] = page.per_page
    result = session.execute(_page_statement(shape, page.order, limited, offset), params)
    keys = list(result.keys())
    rows = [dict(zip(keys, row, strict=True)) for row in result.all()]  # plain dicts to read
    # Past the last page there is no row to carry the total: count it on its own.
    total = int(rows[0]["total"]) if rows else _count(session, workspace_id, filters)
    items = [
        SyncView(
            values=row,
            health=sync_health(
                last_status=row["last_outcome_status"],
                last_result_class=row["last_outcome_result_class"],
                sync_status=row["status"],
            ),
        )
        for row in rows
    ]
    return Page(items=items, total=total, request=page)


def _count(session: Session, workspace_id: str, filters: SyncFilters) -> int:
    stmt = sa.select(sa.func.count()).select_from(_SYNCS)
    stmt = stmt.where(*sync_filter_clauses(_SYNCS, filters))
    return int(session.scalar(stmt, filter_parameters(workspace_id, filters)) or 0)
