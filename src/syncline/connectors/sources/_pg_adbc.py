"""The fast path of the PostgreSQL source: Arrow straight from binary COPY, through ADBC.

The ADBC PostgreSQL driver decodes ``COPY ... TO STDOUT (FORMAT binary)`` into Arrow in C,
about six times faster than building batches from psycopg's Python rows (see
bench/sources.py). It is used only for models whose every column has a type it decodes
exactly as the psycopg path would; its batches are cast to the schema ``columns()`` reports
and cut to exactly ``batch_rows`` rows, so callers see the same thing whichever path ran.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from syncline.connectors.base import SourceError

try:  # an optional speed-up: without the driver, the psycopg path reads everything
    import adbc_driver_manager
    import adbc_driver_postgresql.dbapi as adbc_pg
except ImportError:  # pragma: no cover - the driver is a project dependency
    adbc_pg = None

__all__ = ["ADBC_OIDS", "available", "read_batches", "rechunk"]

# Types whose ADBC decoding equals psycopg's: bool, bytea, int8/2/4, text, float4/8, varchar,
# bpchar, date, timestamp, timestamptz, numeric (as text, cast to the column's decimal).
ADBC_OIDS = frozenset({16, 17, 20, 21, 23, 25, 700, 701, 1042, 1043, 1082, 1114, 1184, 1700})
# 'infinity' timestamps/dates overflow in the driver into values far before 4713 BC, the
# earliest PostgreSQL has; psycopg refuses them, and so must this path.
_MIN_TS_US = -211_000_000_000_000_000  # a little before 4713 BC
_MIN_DATE_DAYS = -2_500_000


def available() -> bool:
    """Whether the ADBC PostgreSQL driver is installed."""
    return adbc_pg is not None


def _conform(batch: pa.RecordBatch, schema: pa.Schema, label: str) -> pa.RecordBatch:
    """Cast a batch from the driver to the discovered schema, refusing infinite datetimes."""
    arrays = []
    for array, field in zip(batch.columns, schema, strict=True):
        if isinstance(array.type, pa.ExtensionType):
            array = array.storage  # numeric arrives as opaque text
        if pa.types.is_timestamp(field.type) or pa.types.is_date(field.type):
            ints = array.cast(pa.int64() if pa.types.is_timestamp(field.type) else pa.int32())
            low = pc.min(ints).as_py()
            floor = _MIN_TS_US if pa.types.is_timestamp(field.type) else _MIN_DATE_DAYS
            if low is not None and low < floor:
                raise SourceError(
                    f"{label}: column {field.name!r} holds an infinite date or timestamp, "
                    "which has no Arrow value; filter it out or cast it in the model SQL"
                )
        if array.type != field.type:
            try:
                array = pc.cast(array, field.type)
            except pa.ArrowException as exc:
                raise SourceError(
                    f"{label}: column {field.name!r}: a value does not fit type {field.type}: {exc}"
                ) from exc
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def rechunk(batches: Iterable[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of batches of any size into batches of exactly ``batch_rows`` rows.

    The last batch may be shorter; empty input batches vanish. Slices are zero-copy; only a
    batch that spans two input batches is concatenated, so memory stays at about one input
    batch plus one output batch.
    """
    pending: list[pa.RecordBatch] = []
    have = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(batch_rows - have, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            have += take
            offset += take
            if have == batch_rows:
                yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)
                pending, have = [], 0
    if have:
        yield pending[0] if len(pending) == 1 else pa.concat_batches(pending)


def _server_message(exc: BaseException) -> str:
    """The server's message out of the driver's wrapper text (``[libpq] ... ERROR:  ...``)."""
    text = str(exc)
    return text.split("ERROR:", 1)[1].strip() if "ERROR:" in text else text


def read_batches(
    conninfo: str,
    sql: str,
    schema: pa.Schema,
    batch_rows: int,
    label: str,
    timeout_ms: int = 0,
    *,
    cancels: list[Callable[[], None]] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream ``sql`` through ADBC as batches of ``schema``, ``batch_rows`` rows each.

    ``sql`` has passed the SQL guard. The session is read-only before the driver opens its
    transaction, and the whole COPY stops after ``timeout_ms`` (0: never). While the query
    runs its cursor's cancel is in ``cancels``, for a run that must stop.

    Raises:
        SourceError: the connection or the query fails; connection failures are retryable.
    """
    assert adbc_pg is not None
    try:
        conn: Any = adbc_pg.connect(conninfo, autocommit=True)
    except adbc_driver_manager.Error as exc:
        raise SourceError(f"{label}: cannot connect: {exc}", retryable=True) from exc
    try:
        cur = conn.cursor()
        # Session defaults, set in autocommit mode: every transaction after them is read-only.
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        cur.execute(f"SET statement_timeout TO {int(timeout_ms)}")
        if cancels is not None:
            cancels.append(cur.adbc_cancel)
        cur.execute(sql)
        reader = cur.fetch_record_batch()
        if len(reader.schema) != len(schema):
            raise SourceError(f"{label}: the model's columns changed while it was read")
        conformed = (_conform(b, schema, label) for b in reader)
        yield from rechunk(conformed, batch_rows)
    except adbc_driver_manager.Error as exc:
        retryable = isinstance(exc, adbc_driver_manager.OperationalError)
        raise SourceError(f"{label}: {exc}", retryable=retryable) from exc
    except (pa.ArrowException, OSError) as exc:
        # A failure in the middle of the COPY stream surfaces from the record batch reader as
        # an Arrow error or an OSError: a server error (a statement timeout, a read-only
        # violation) carries "ERROR:" and is final; anything else is the connection.
        text = str(exc)
        raise SourceError(
            f"{label}: {_server_message(exc)}", retryable="ERROR:" not in text
        ) from exc
    finally:
        if cancels is not None:
            with contextlib.suppress(ValueError, NameError):
                cancels.remove(cur.adbc_cancel)
        conn.close()
