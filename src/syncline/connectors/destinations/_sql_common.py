"""What the SQL table destinations (PostgreSQL, MySQL) share, written once.

Both keep one table in step with a model: the same table settings, the same capabilities, and
the same skeleton around their driver (a short-lived session for ``check`` and ``objects``,
the table created from the run's fields, the key column matched by name). A destination
writes only its driver's part: how to connect, read the catalog, create a table and judge an
existing one, and how its errors read. The data-load path (``write``) stays each driver's own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, ClassVar, Generic, Protocol, TypeVar

import pyarrow as pa
from pydantic import Field

from syncline.connectors.base import (
    Capabilities,
    ChangeBatch,
    CheckResult,
    DestinationError,
    ObjectSchema,
    RunInfo,
    SyncMode,
)

__all__ = [
    "TABLE_CAPABILITIES",
    "ConnectTimeout",
    "CreateTable",
    "KeyColumn",
    "SqlTableDestination",
    "TargetTable",
    "keyed_records",
]

# The table settings both configs declare, in each config's own field order.
TargetTable = Annotated[str, Field(description="Target table")]
CreateTable = Annotated[
    bool, Field(description="Create the table (and add new columns) from the model's fields")
]
KeyColumn = Annotated[
    str | None,
    Field(description="Column matched against the model's key (default: the sync's key field)"),
]
ConnectTimeout = Annotated[int, Field(ge=1, le=300, description="Seconds to wait for a connection")]

#: Every mode, deletes, the table's columns listed, the model's field order kept.
TABLE_CAPABILITIES = Capabilities(
    modes=frozenset(SyncMode),
    max_batch_rows=50_000,
    supports_delete=True,
    lists_fields=True,
    supports_field_ordering=True,
)

C = TypeVar("C")  # the driver's connection
I = TypeVar("I")  # noqa: E741  # what the catalog says of the target table


class TableSettings(Protocol):
    """The settings of the target table every SQL destination config has."""

    @property
    def table(self) -> str: ...

    @property
    def create_table(self) -> bool: ...

    @property
    def key_column(self) -> str | None: ...


def keyed_records(batch: ChangeBatch, key: str) -> pa.Table:
    """The batch's records with the key under the table's key column name ``key``.

    Raises:
        DestinationError: the batch has neither column.
    """
    records = batch.records
    if key in records.column_names:
        return records
    if batch.key_field in records.column_names:
        names = [key if n == batch.key_field else n for n in records.column_names]
        return records.rename_columns(names)
    raise DestinationError(f"batch has no key column {key!r} (nor {batch.key_field!r})")


class SqlTableDestination(ABC, Generic[C, I]):
    """The skeleton of a destination that keeps one SQL table in step with a model."""

    capabilities: ClassVar[Capabilities] = TABLE_CAPABILITIES
    #: The driver's base exception: what ``_error`` maps to a DestinationError.
    driver_error: ClassVar[type[Exception]]

    _config: TableSettings
    _conn: C | None
    _run: RunInfo | None
    _key: str

    # -- the driver's part -------------------------------------------------------------------

    @property
    @abstractmethod
    def _name(self) -> str:
        """The target table's quoted, qualified name, as messages show it."""

    @property
    @abstractmethod
    def _has_table(self) -> bool:
        """Whether this run has found (or created) the target table."""

    @abstractmethod
    def _connect(self) -> C:
        """A new session set up for writing (raises DestinationError when it cannot)."""

    @abstractmethod
    def _is_open(self, conn: C) -> bool:
        """Whether ``conn`` can still be used."""

    @abstractmethod
    def _close(self, conn: C) -> None:
        """Close a short-lived session, whatever state it is in."""

    @abstractmethod
    def _error(self, exc: Exception, what: str) -> DestinationError:
        """The driver's exception as a DestinationError (retryable when waiting may help)."""

    @abstractmethod
    def _live_conn(self) -> C:
        """The run's connection, reopened after a loss."""

    @abstractmethod
    def _table_info(self, conn: C) -> I | None:
        """The target table as the catalog has it; None when it does not exist."""

    @abstractmethod
    def _list_objects(self, conn: C) -> list[ObjectSchema]:
        """The tables next to the target, with their columns."""

    @abstractmethod
    def _table_problem(self, conn: C, info: I, key: str | None) -> str | None:
        """Why an existing table cannot be written to, matched on ``key``; None when it can."""

    @abstractmethod
    def _create_table(self, conn: C, columns: dict[str, str]) -> None:
        """``CREATE TABLE`` with ``columns`` (name -> SQL type), keyed on the run's key."""

    @abstractmethod
    def _adopt(self, conn: C, info: I) -> None:
        """Use an existing table for the run (raises DestinationError when it cannot)."""

    @abstractmethod
    def _default_type(self, name: str) -> str:
        """The SQL type of a column created for a field no batch has shown a value of."""

    def _schema_problem(self, conn: C) -> str | None:
        """Why the table cannot be where the config puts it (a missing schema); None: it can."""
        return None

    def _connected(self) -> str:
        """The start of ``check``'s success message."""
        return "connected"

    def _failed(self, exc: Exception, what: str) -> DestinationError:
        """Map an error met during a run (a driver may drop a lost connection here)."""
        return self._error(exc, what)

    # -- the shared skeleton -----------------------------------------------------------------

    def check(self) -> CheckResult:
        """Connect, and confirm the table exists (or may be created) and can be matched by key."""
        cfg = self._config
        info: I | None = None
        try:
            with self._session() as conn:
                problem = self._schema_problem(conn)
                if problem:
                    return CheckResult(False, problem)
                info = self._table_info(conn)
                if info is None and not cfg.create_table:
                    return CheckResult(False, self._missing_table)
                problem = None if info is None else self._table_problem(conn, info, cfg.key_column)
                if problem:
                    return CheckResult(False, problem)
        except self.driver_error as exc:
            return CheckResult(False, str(self._error(exc, "check failed")))
        except DestinationError as exc:
            return CheckResult(False, str(exc))
        state = "exists" if info is not None else "will be created on the first run"
        return CheckResult(True, f"{self._connected()}; table {self._name} {state}")

    def objects(self) -> list[ObjectSchema]:
        """The tables next to the target and their columns, primary-key columns ``is_key``."""
        try:
            with self._session() as conn:
                return self._list_objects(conn)
        except self.driver_error as exc:
            raise self._error(exc, "listing tables failed") from exc

    def finish(self, *, success: bool) -> None:
        """A successful run always leaves the table in place, even if it sent no rows."""
        if not (success and self._run and not self._has_table and self._config.create_table):
            return
        columns = {name: self._default_type(name) for name in [self._key, *self._run.fields]}
        try:
            self._create(self._live_conn(), columns)
        except self.driver_error as exc:
            raise self._failed(exc, f"creating table {self._name} failed") from exc

    @property
    def _missing_table(self) -> str:
        return f"table {self._name} does not exist and create_table is false"

    @contextmanager
    def _session(self) -> Iterator[C]:
        """The run's connection when one is open, else a short-lived one."""
        if self._conn is not None and self._is_open(self._conn):
            yield self._conn
            return
        conn = self._connect()
        try:
            yield conn
        finally:
            self._close(conn)

    def _create(self, conn: C, columns: dict[str, str]) -> None:
        """Create the table (every field of the run gets a column) and adopt it."""
        assert self._run is not None
        for name in self._run.fields:  # fields absent from this batch still get a column
            columns.setdefault(name, self._default_type(name))
        self._create_table(conn, columns)
        info = self._table_info(conn)
        if info is None:
            raise DestinationError(f"table {self._name} vanished right after CREATE TABLE")
        self._adopt(conn, info)

    def _keyed(self, batch: ChangeBatch) -> pa.Table:
        """The records with the key under the table's key column name."""
        return keyed_records(batch, self._key)
