"""Failures a use case reports to its caller (the API maps them to 404 and 409)."""

from __future__ import annotations

from syncline.domain.validation import ValidationError

__all__ = ["BusyError", "ConflictError", "NotFoundError", "UpstreamError", "ValidationError"]


class NotFoundError(Exception):
    """No such object in this workspace (the API answers 404 ``"<Kind> not found"``).

    Objects of other workspaces are reported exactly like objects that do not exist, so an
    id never reveals that it belongs to somebody else.
    """

    def __init__(self, kind: str) -> None:
        super().__init__(f"{kind} not found")
        self.kind = kind
        self.detail = f"{kind} not found"


class ConflictError(Exception):
    """The request is valid but clashes with the current state (API: 409)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UpstreamError(Exception):
    """A source or destination failed while serving the request (API: 502)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BusyError(Exception):
    """Too much of one kind of work is already running; try again soon (API: 503)."""

    def __init__(self, detail: str, *, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after
