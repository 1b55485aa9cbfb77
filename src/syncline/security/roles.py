"""Token roles and the one table that says which role each route needs.

Roles are cumulative: ``viewer`` reads; ``operator`` also triggers, cancels, retries and runs
checks, previews and dry runs; ``editor`` also creates, changes and deletes sources, models,
destinations and syncs; ``admin`` may do everything, including managing tokens. The API and
the dashboard both ask :func:`required_role` for the route being served, so a new route is
covered the moment it exists: anything that is not a read needs at least ``editor``.
"""

from __future__ import annotations

import re
from enum import StrEnum


class Role(StrEnum):
    """What a token may do, weakest first."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    EDITOR = "editor"
    ADMIN = "admin"


RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.EDITOR: 2, Role.ADMIN: 3}
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# (methods, path pattern, role): first match wins; patterns see the route's template path.
# Every non-read route that matches nothing below needs ``editor``.
RULES: tuple[tuple[frozenset[str] | None, re.Pattern[str], Role], ...] = (
    (None, re.compile(r"/ui/(login|logout)$"), Role.VIEWER),
    (None, re.compile(r"/tokens(/|$)"), Role.ADMIN),
    (READ_METHODS, re.compile(r"/audit-events$"), Role.EDITOR),
    (READ_METHODS, re.compile(r".*"), Role.VIEWER),
    (frozenset({"POST"}), re.compile(r"/(trigger|cancel|retry)$"), Role.OPERATOR),
    (frozenset({"POST"}), re.compile(r"/(check|preview|dry-run|dry_run)$"), Role.OPERATOR),
    (frozenset({"POST"}), re.compile(r"/alert-channels/\{channelId\}/test$"), Role.OPERATOR),
    (None, re.compile(r"^/api/v1/workspaces/\{id\}$"), Role.ADMIN),
)


def required_role(method: str, path: str) -> Role:
    """The weakest role that may call ``method`` on the route template ``path``."""
    method = method.upper()
    for methods, pattern, role in RULES:
        if (methods is None or method in methods) and pattern.search(path):
            return role
    return Role.EDITOR


def allows(role: str, needed: Role) -> bool:
    """Whether a token of ``role`` may call a route that needs ``needed``; unknown roles may not."""
    try:
        return RANK[Role(role)] >= RANK[needed]
    except ValueError:
        return False


def parse_role(value: str) -> Role:
    """A role from user input (CLI, config), or ValueError naming the valid ones."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        valid = ", ".join(r.value for r in Role)
        raise ValueError(f"unknown role {value!r}: use one of {valid}") from None
