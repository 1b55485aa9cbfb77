"""List pagination: ``?page=&per_page=&order=`` in, ``X-Total-Count`` and ``Link`` out.

Bodies stay bare JSON arrays (the seed contract); page navigation lives in the headers, the
way GitHub does it (RFC 8288 ``Link`` with rel first/prev/next/last, absolute URLs that keep
the request's other query parameters).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response

from syncline.services.common import Page, PageRequest

MAX_PAGE = 1_000_000
Order = Literal["asc", "desc"]

PageQuery = Annotated[
    int,
    Query(ge=0, le=MAX_PAGE, description="Page number, from 1 (0 is taken as 1)."),
]
PerPageQuery = Annotated[int, Query(ge=1, le=100, description="Items per page (1-100).")]


def _page_asc(
    page: PageQuery = 1, per_page: PerPageQuery = 25, order: Order = "asc"
) -> PageRequest:
    """Pagination oldest first unless ``order=desc``."""
    return PageRequest(page=max(page, 1), per_page=per_page, order=order)


def _page_desc(
    page: PageQuery = 1, per_page: PerPageQuery = 25, order: Order = "desc"
) -> PageRequest:
    """Pagination newest first unless ``order=asc`` (run history)."""
    return PageRequest(page=max(page, 1), per_page=per_page, order=order)


PageAsc = Annotated[PageRequest, Depends(_page_asc)]
PageDesc = Annotated[PageRequest, Depends(_page_desc)]

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


def set_page_headers(response: Response, request: Request, page: Page[Any]) -> None:
    """Add ``X-Total-Count`` and ``Link`` for ``page`` to ``response``."""
    current = page.request.page
    last = page.last_page
    rels: list[tuple[str, int]] = [("first", 1)]
    if current > 1:
        rels.append(("prev", min(current - 1, last)))
    if current < last:
        rels.append(("next", current + 1))
    rels.append(("last", last))
    links = [
        f'<{request.url.include_query_params(page=n, per_page=page.request.per_page)}>; rel="{rel}"'
        for rel, n in rels
    ]
    response.headers["X-Total-Count"] = str(page.total)
    response.headers["Link"] = ", ".join(links)
