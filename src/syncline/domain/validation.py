"""Validation failures raised by services, in the API's 422 error shape.

Services check rules the request schema cannot (a model in the same workspace, a mapped
column the model has ...). They raise :class:`ValidationError` with a ``loc`` pointing into the
request, so the API answers exactly like FastAPI does for schema errors:
``{"detail": [{"loc": ["body", "primary_key"], "msg": "...", "type": "..."}]}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    """One problem: where it is (``loc``), what it is (``msg``) and a machine ``type``."""

    loc: tuple[str | int, ...]
    msg: str
    type: str = "value_error"

    def as_dict(self) -> dict[str, Any]:
        return {"loc": list(self.loc), "msg": self.msg, "type": self.type}


class ValidationError(Exception):
    """One or more :class:`ErrorDetail`; the API turns it into a 422."""

    def __init__(self, errors: Sequence[ErrorDetail]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in self.errors))

    @classmethod
    def at(cls, loc: Sequence[str | int], msg: str, type: str = "value_error") -> ValidationError:
        """A single error at ``loc``."""
        return cls([ErrorDetail(tuple(loc), msg, type)])


class Collector:
    """Gathers errors so one answer reports every problem, not just the first."""

    def __init__(self) -> None:
        self.errors: list[ErrorDetail] = []

    def add(self, loc: Sequence[str | int], msg: str, type: str = "value_error") -> None:
        self.errors.append(ErrorDetail(tuple(loc), msg, type))

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)


def find_cycle(edges: dict[str, list[str]], start: str) -> list[str] | None:
    """A dependency cycle through ``start`` in ``edges`` (node -> upstream nodes), if any.

    Returns the cycle as a path starting and ending at ``start``.
    """
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for upstream in edges.get(node, []):
            if upstream == start:
                return [*path, start]
            if upstream not in seen:
                seen.add(upstream)
                stack.append((upstream, [*path, upstream]))
    return None


def storable_problem(value: Any, path: str = "") -> str | None:
    """Why ``value`` (decoded JSON) cannot be stored as is, or None when it can.

    PostgreSQL refuses NUL characters in text and JSON, no store can encode a lone UTF-16
    surrogate, and JSON has no NaN: each would surface as a server error deep in the store,
    so request bodies are checked up front and answered with a 422.
    """
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path or 'value'}: text must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path or 'value'}: text must be valid Unicode (no lone surrogates)"
        return None
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return f"{path or 'value'}: numbers must be finite"
    if isinstance(value, dict):
        for key, item in value.items():
            problem = storable_problem(key, f"{path}.{key!s}" if path else str(key))
            problem = problem or storable_problem(item, f"{path}.{key!s}" if path else str(key))
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            problem = storable_problem(item, f"{path}[{i}]")
            if problem:
                return problem
    return None
