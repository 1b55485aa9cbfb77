"""Helpers shared by the use cases: listing pages, the clock, workspace-scoped lookups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.services.errors import NotFoundError
from syncline.store.tables import utcnow

__all__ = ["Page", "PageRequest", "get_scoped", "paginate", "utcnow"]

T = TypeVar("T")
Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class PageRequest:
    """Which part of a list, by creation time ``order``.

    ``per_page=None`` is the whole list (a seed 000 list without paging parameters); otherwise
    1-based ``page`` of ``per_page`` rows, or, when ``start`` is set, ``per_page`` rows from
    row ``start`` (seed 003's ``limit``/``offset``).
    """

    page: int = 1
    per_page: int | None = 25
    order: Order = "asc"
    start: int | None = None

    @property
    def offset(self) -> int:
        if self.start is not None:
            return self.start
        return (max(self.page, 1) - 1) * (self.per_page or 0)

    @property
    def is_offset_style(self) -> bool:
        return self.start is not None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of results and the size of the whole filtered collection."""

    items: list[T]
    total: int
    request: PageRequest

    @property
    def last_page(self) -> int:
        if self.request.per_page is None:
            return 1
        return max(1, -(-self.total // self.request.per_page))


def paginate(
    session: Session,
    stmt: sa.Select[T],
    *,
    page: PageRequest,
    order_by: Sequence[Any],
) -> Page[T]:
    """Run ``stmt`` for one page, ordered by ``order_by`` columns in ``page.order``.

    The count runs over the same filtered statement so ``X-Total-Count`` matches the rows.
    """
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))
    direction = [c.desc() if page.order == "desc" else c.asc() for c in order_by]
    ordered = stmt.order_by(*direction)
    if page.offset:
        ordered = ordered.offset(page.offset)
    if page.per_page is not None:
        ordered = ordered.limit(page.per_page)
    rows = session.scalars(ordered)
    return Page(items=list(rows), total=int(total or 0), request=page)


def get_scoped(session: Session, table: type[T], *, workspace_id: str, id: str, kind: str) -> T:
    """The row ``id`` of ``table`` if it belongs to ``workspace_id``, else NotFoundError(kind).

    Every lookup by id goes through here (or an equivalent filter) so no query forgets the
    workspace.
    """
    cols: Any = table
    obj: T | None = session.scalar(
        sa.select(cols).where(
            cols.id == id,
            cols.workspace_id == workspace_id,
        )
    )
    if obj is None:
        raise NotFoundError(kind)
    return obj
