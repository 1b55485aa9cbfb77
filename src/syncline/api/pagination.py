"""List pagination in, ``X-Total-Count`` and ``Link`` out.

Bodies stay bare JSON arrays (the seed contract); page navigation lives in the headers, the
way GitHub does it (RFC 8288 ``Link`` with rel first/prev/next/last, absolute URLs that keep
the request's other query parameters). Two request styles are accepted:

* seed 002's ``?page=&per_page=&order=`` (pages from 1, at most 100 per page);
* seed 003's ``?limit=&offset=`` (at most 100 rows from row ``offset``).

Without any of them a seed 000 list ("Returns all syncs") is the whole list; only the run
records of a run, which can be millions, default to a page of 25.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response

from syncline.services.common import Page, PageRequest

MAX_PAGE = 1_000_000
MAX_OFFSET = 10**9
DEFAULT_PER_PAGE = 25
Order = Literal["asc", "desc"]

PageQuery = Annotated[
    int | None,
    Query(ge=0, le=MAX_PAGE, description="Page number, from 1 (0 is taken as 1)."),
]
PerPageQuery = Annotated[int | None, Query(ge=1, le=100, description="Items per page (1-100).")]
LimitQuery = Annotated[
    int | None, Query(ge=1, le=100, description="At most this many items (1-100).")
]
OffsetQuery = Annotated[
    int | None, Query(ge=0, le=MAX_OFFSET, description="Skip this many items first.")
]


def _paging(
    default_order: Order, default_per_page: int | None
) -> Callable[..., Awaitable[PageRequest]]:
    # ``async`` although it does no I/O: FastAPI runs a plain ``def`` dependency in the thread
    # pool, a hand-off per request that cost more than the parsing (tests/api/test_thread_hops).
    async def dependency(
        page: PageQuery = None,
        per_page: PerPageQuery = None,
        order: Annotated[Order, Query(description="By creation time.")] = default_order,
        limit: LimitQuery = None,
        offset: OffsetQuery = None,
    ) -> PageRequest:
        if limit is not None or offset is not None:
            size = limit if limit is not None else per_page
            return PageRequest(per_page=size, order=order, start=offset or 0)
        if page is not None or per_page is not None:
            return PageRequest(
                page=max(page or 1, 1), per_page=per_page or DEFAULT_PER_PAGE, order=order
            )
        return PageRequest(per_page=default_per_page, order=order)

    return dependency


# The whole list unless paging is asked for; oldest first (or newest first: run history).
PageAsc = Annotated[PageRequest, Depends(_paging("asc", None))]
PageDesc = Annotated[PageRequest, Depends(_paging("desc", None))]
# A page of 25 unless told otherwise (run records).
PageRecords = Annotated[PageRequest, Depends(_paging("asc", DEFAULT_PER_PAGE))]

PAGE_HEADERS: dict[str, Any] = {
    "X-Total-Count": {
        "description": "Number of items across all pages (after filters).",
        "schema": {"type": "integer"},
    },
    "Link": {
        "description": "RFC 8288 links to the first, prev, next and last pages.",
        "schema": {"type": "string"},
    },
}


def _offset_links(request: Request, page: Page[Any]) -> list[tuple[str, str]]:
    size = page.request.per_page
    start = page.request.offset
    if size is None:  # offset without limit: the rest of the list, one page
        return [("first", str(request.url)), ("last", str(request.url))]

    def at(n: int) -> str:
        return str(request.url.include_query_params(offset=max(n, 0), limit=size))

    last = max(0, (page.total - 1) // size * size)
    rels = [("first", at(0))]
    if start > 0:
        rels.append(("prev", at(min(start - size, last))))
    if start + size < page.total:
        rels.append(("next", at(start + size)))
    rels.append(("last", at(last)))
    return rels


def _page_links(request: Request, page: Page[Any]) -> list[tuple[str, str]]:
    if page.request.per_page is None:  # the whole list: one page
        return [("first", str(request.url)), ("last", str(request.url))]
    current = page.request.page
    last = page.last_page

    def at(n: int) -> str:
        return str(request.url.include_query_params(page=n, per_page=page.request.per_page))

    rels = [("first", at(1))]
    if current > 1:
        rels.append(("prev", at(min(current - 1, last))))
    if current < last:
        rels.append(("next", at(current + 1)))
    rels.append(("last", at(last)))
    return rels


def set_page_headers(response: Response, request: Request, page: Page[Any]) -> None:
    """Add ``X-Total-Count`` and ``Link`` for ``page`` to ``response``."""
    rels = (
        _offset_links(request, page) if page.request.is_offset_style else _page_links(request, page)
    )
    response.headers["X-Total-Count"] = str(page.total)
    response.headers["Link"] = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in rels)
