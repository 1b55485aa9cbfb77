"""Idempotency keys of what HTTP destinations send: the same for the same record change.

A record's key is derived from the sync, the operation, the record's primary key and its row
hash, never from the run: a retry, a resumed attempt or a later run that sends the same record
change again sends the same key, so a receiver can tell a duplicate delivery from a new change.
A request's key is derived from its records' keys, so a request resent with the same records
carries the same key. See docs/destinations/webhook.md ("De-duplicating deliveries").
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = ["record_idempotency_key", "record_idempotency_keys", "request_idempotency_key"]

_SEP = "\x1f"  # unit separator: cannot appear ambiguously between the parts


def record_idempotency_key(sync_id: str, operation: str, key: str, row_hash: object) -> str:
    """The key of one record change: 32 hex digits of SHA-256 over its identity.

    ``row_hash`` is the engine's hash of the record's mapped values (None for a delete, which
    carries no values): a record sent again unchanged gets the same key; a changed one a new key.
    """
    text = _SEP.join((sync_id, operation, key, "" if row_hash is None else str(row_hash)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def record_idempotency_keys(
    sync_id: str, operation: str, keys: Sequence[str], row_hashes: Sequence[object] | None
) -> list[str]:
    """:func:`record_idempotency_key` of each record of a batch (``row_hashes`` parallel)."""
    hashes: Sequence[object] = row_hashes if row_hashes is not None else [None] * len(keys)
    return [
        record_idempotency_key(sync_id, operation, k, h) for k, h in zip(keys, hashes, strict=True)
    ]


def request_idempotency_key(operation: str, record_keys: Iterable[str]) -> str:
    """The key of a request: derived from its operation and its records' keys, in order."""
    digest = hashlib.sha256(operation.encode("utf-8"))
    for key in record_keys:
        digest.update(b"\x1f" + key.encode("ascii"))
    return digest.hexdigest()[:32]
