"""What the SaaS API destinations (HubSpot, Salesforce) share, written once.

Both talk to a vendor's HTTP API through a client of their own, retry each chunk under a
``RetryPolicy`` made from the same config fields, test a connection with a single attempt,
and hand their writers the batch as records (index, key, other fields). What differs, the
vendor's endpoints and rules, stays in each destination's package.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Protocol, TypeVar

from pydantic import Field

from syncline.connectors._http import RetryPolicy
from syncline.connectors.base import ChangeBatch, Operation

__all__ = [
    "ONE_ATTEMPT",
    "ApiDestination",
    "MaxRetryWait",
    "Rec",
    "RetryBackoff",
    "batch_recs",
]

#: A connection test answers at once: it reports a failure instead of waiting it out.
ONE_ATTEMPT = RetryPolicy(attempts=1)

# The retry settings both configs declare (their ``max_retries`` defaults differ).
RetryBackoff = Annotated[float, Field(ge=0, description="First backoff (doubles)")]
MaxRetryWait = Annotated[float, Field(ge=0, description="Longest single wait")]


@dataclass
class Rec:
    """One record of a batch: its index (for the result), its key and its other fields."""

    index: int
    key: str
    fields: dict[str, Any] = field(default_factory=dict)


def batch_recs(batch: ChangeBatch, start: int = 0, length: int | None = None) -> list[Rec]:
    """Records ``start`` to ``start + length`` of ``batch`` (a delete sends keys only)."""
    table = batch.records.slice(start, length)
    names = [n for n in table.column_names if n != batch.key_field]
    if batch.operation is Operation.DELETE:
        names = []
    rows = table.select(names).to_pylist() if names else [{} for _ in range(table.num_rows)]
    return [Rec(start + i, batch.keys[start + i], row) for i, row in enumerate(rows)]


class RetrySettings(Protocol):
    """The config fields a destination's ``RetryPolicy`` is made from."""

    @property
    def max_retries(self) -> int: ...

    @property
    def retry_backoff_seconds(self) -> float: ...

    @property
    def max_retry_wait_seconds(self) -> float: ...


class Client(Protocol):
    """A vendor API client: it holds connections until closed."""

    def close(self) -> None: ...


Cl = TypeVar("Cl", bound=Client)


class ApiDestination(ABC, Generic[Cl]):
    """A destination behind a vendor API client: one for the run, short-lived ones otherwise."""

    def __init__(self, config: RetrySettings) -> None:
        self._policy = RetryPolicy(
            config.max_retries, config.retry_backoff_seconds, config.max_retry_wait_seconds
        )
        self._client: Cl | None = None

    @abstractmethod
    def _new_client(self) -> Cl:
        """A client for the configured account (it has not made a request yet)."""

    def _live(self) -> Cl:
        """The run's client, made on first use."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    @contextmanager
    def _session(self) -> Iterator[Cl]:
        """The run's client when one is open, else a short-lived one."""
        if self._client is not None:
            yield self._client
            return
        client = self._new_client()
        try:
            yield client
        finally:
            client.close()

    def _close_client(self) -> None:
        """Close the run's client, if any."""
        if self._client is not None:
            self._client.close()
        self._client = None
