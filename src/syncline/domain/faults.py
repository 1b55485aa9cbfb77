"""Faults recognised by what they are, whichever library raised them.

A full disk reaches Syncline as an ``OSError`` (ENOSPC) from a file write, as SQLite's
"database or disk is full", or as DuckDB's IO error ("No space left on device") when it
spills; the run must say ``disk_full`` for all of them, not ``internal_error``.
"""

from __future__ import annotations

import errno

_FULL_TEXTS = ("no space left on device", "database or disk is full", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or anything in its cause chain) is a full disk."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(current).lower() for text in _FULL_TEXTS):
            return True
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return False
