"""Arrow <-> PostgreSQL glue for the PostgreSQL destination: types, COPY payloads, errors.

Kept apart from the destination so the loading logic reads as SQL and the per-type
special cases live in one place.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from decimal import Decimal
from functools import lru_cache, reduce
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from syncline.connectors.base import DestinationAuthError, DestinationError

# SQLSTATE classes caused by the values of one row (bad input, violated constraint, a trigger
# raising): bisecting the batch can isolate them. Anything else fails the whole batch.
_ROW_LEVEL_CLASSES = ("21", "22", "23")
_ROW_LEVEL_STATES = ("P0001",)
# Transient server-side conditions: trying the batch again later may well succeed.
_RETRYABLE_STATES = ("57014", "57P01", "57P02", "57P03", "40001", "40P01", "55P03", "55006")
_RETRYABLE_CLASSES = ("08", "53")
_AUTH_MARKERS = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "password is required",
    "permission denied for database",
)

_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=65_536)
_CHUNK_ROWS = 8_192
ORD = "_syncline_ord"  # staging-only column: the row's index in the batch


def pg_type_for(arrow_type: pa.DataType) -> str:
    """The PostgreSQL column type that holds an Arrow type without loss (for CREATE TABLE)."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        return pg_type_for(t.value_type)
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "smallint"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "integer"
    if pa.types.is_int64(t) or pa.types.is_uint32(t):
        return "bigint"
    if pa.types.is_uint64(t):
        return "numeric(20,0)"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "real"
    if pa.types.is_float64(t):
        return "double precision"
    if pa.types.is_decimal(t):
        return f"numeric({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_timestamp(t):
        return "timestamp with time zone" if t.tz else "timestamp without time zone"
    if pa.types.is_time(t):
        return "time without time zone"
    if pa.types.is_duration(t):
        return "interval"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "bytea"
    if _is_nested(t):
        return "jsonb"
    return "text"


def _is_nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_nested(t) or pa.types.is_map(t))


def _json_default(value: Any) -> Any:
    """Values JSON has no type for: as the text PostgreSQL would print for them."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _map_values(arr: pa.ChunkedArray, fn: Callable[[Any], str]) -> pa.Array:
    """Per-value Python conversion, only for the few types Arrow's CSV writer cannot render."""
    return pa.array([None if v is None else fn(v) for v in arr.to_pylist()], pa.string())


def _to_json(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        value = dict(value)  # Arrow maps come back as lists of (key, value) pairs
    return json.dumps(value, default=_json_default, separators=(",", ":"))


def copyable(arr: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """One column made writable by Arrow's CSV writer in the text PostgreSQL's COPY parses."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return copyable(pc.cast(arr, t.value_type))
    if _is_nested(t):
        return _map_values(arr, _to_json)
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return _map_values(arr, lambda v: "\\x" + bytes(v).hex())
    if pa.types.is_duration(t):
        micros = pc.cast(pc.cast(arr, pa.duration("us"), safe=False), pa.int64())
        return pc.binary_join_element_wise(pc.cast(micros, pa.string()), " microseconds", "")
    if pa.types.is_string_view(t) or pa.types.is_binary_view(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_float16(t):
        return pc.cast(arr, pa.float32())
    if pa.types.is_timestamp(t) and t.tz is not None:
        # Arrow renders zoned timestamps ~12x slower than naive ones; the naive cast keeps the
        # UTC instant, which the session (TimeZone=UTC) reads back as the same instant.
        return pc.cast(arr, pa.timestamp(t.unit))
    return arr


def copy_table(table: pa.Table, columns: list[str]) -> tuple[pa.Table, dict[int, str]]:
    """The batch made COPY-ready once (not per bisect step), plus rows that cannot be sent.

    The result holds ``columns`` rendered as COPY expects and ``ORD``, each row's index in the
    batch (kept through filtering, so errors always name the original row). Text containing a
    NUL byte is rejected up front: PostgreSQL cannot store it in any type, so it would fail
    even the all-text staging COPY, and with it the whole batch.
    """
    data = {c: copyable(table.column(c)) for c in columns}
    data[ORD] = _ords(table.num_rows)
    ready = pa.table(data)
    masks = [
        pc.fill_null(pc.match_substring(ready.column(c), "\x00"), False)
        for c in columns
        if pa.types.is_string(ready.column(c).type)
        or pa.types.is_large_string(ready.column(c).type)
    ]
    bad = reduce(pc.or_, masks) if masks else None
    if bad is None or not pc.any(bad).as_py():
        return ready, {}
    rejected = ready.filter(bad).column(ORD).to_pylist()
    message = "text contains a NUL byte (0x00), which PostgreSQL cannot store"
    return ready.filter(pc.invert(bad)), dict.fromkeys(rejected, message)


@lru_cache(maxsize=8)
def _ords_upto(size: int) -> pa.Array:
    return pa.array(range(size), pa.int32())


def _ords(n: int) -> pa.Array:
    """0..n-1 as int32 without a Python loop per batch (cached by power of two)."""
    return _ords_upto(max(1 << max(n - 1, 0).bit_length(), 1024)).slice(0, n)


def csv_chunks(table: pa.Table) -> Iterator[bytes]:
    """CSV for ``COPY ... (FORMAT csv)``, in chunks so the server parses while we render.

    Arrow's C++ writer renders each chunk without a Python loop; it quotes every string (so an
    empty string stays distinct from NULL, an unquoted empty field).
    """
    for start in range(0, table.num_rows, _CHUNK_ROWS):
        buf = io.BytesIO()
        pacsv.write_csv(table.slice(start, _CHUNK_ROWS), buf, _CSV_OPTIONS)
        yield buf.getvalue()


def cast_type(base_type: str) -> str:
    """The type to CAST staged text to before the column's own assignment coercion.

    Casting to the typmod-less type and letting the INSERT/UPDATE coerce keeps PostgreSQL's
    assignment rules: an explicit ``CAST(x AS varchar(3))`` would silently truncate, while
    assignment raises "value too long". Bare ``character`` and ``bit`` mean length 1, hence
    the wider stand-ins.
    """
    return {"character": "text", "bit": "bit varying"}.get(base_type, base_type)


def sqlstate(exc: BaseException) -> str:
    return getattr(exc, "sqlstate", None) or ""


def is_row_level(exc: psycopg.Error) -> bool:
    """Whether the error comes from one row's values, so bisecting can isolate the row."""
    return state_is_row_level(sqlstate(exc))


def state_is_row_level(state: str) -> bool:
    return state.startswith(_ROW_LEVEL_CLASSES) or state in _ROW_LEVEL_STATES


def error_class(state: str) -> str:
    """The RecordError class for a row-level SQLSTATE."""
    if state.startswith("23"):
        return "constraint_violation"
    if state.startswith("22"):
        return "invalid_value"
    return "rejected"


def pg_message(exc: psycopg.Error) -> str:
    """PostgreSQL's own message, with its detail (which names the key or constraint)."""
    diag = exc.diag
    return join_message(diag.message_primary or str(exc).strip(), diag.message_detail)


def join_message(primary: str, detail: str | None) -> str:
    return f"{primary} ({detail})" if detail else primary


def batch_error(exc: psycopg.Error, what: str) -> DestinationError:
    """A whole-batch failure as the DestinationError the engine knows how to handle."""
    state = sqlstate(exc)
    lost = isinstance(exc, psycopg.OperationalError) and not state  # connection gone
    return state_error(state, f"{what}: {pg_message(exc)}", retryable=lost)


def state_error(state: str, message: str, *, retryable: bool = False) -> DestinationError:
    """Refused credentials or privileges are final; transient server conditions are not."""
    if state.startswith("28") or state == "42501":
        return DestinationAuthError(message)
    retryable = retryable or state.startswith(_RETRYABLE_CLASSES) or state in _RETRYABLE_STATES
    return DestinationError(message, retryable=retryable)


def connect_error(exc: psycopg.OperationalError) -> DestinationError:
    """Map a failed connection attempt: refused credentials are final, the network may recover.

    libpq reports connection failures without a SQLSTATE, so the message is all there is.
    """
    text = str(exc).strip()
    lowered = text.lower()
    if any(m in lowered for m in _AUTH_MARKERS) or ('role "' in lowered and "not exist" in lowered):
        return DestinationAuthError(f"PostgreSQL refused the credentials: {text}")
    if "database" in lowered and "does not exist" in lowered:
        return DestinationError(f"cannot connect to PostgreSQL: {text}")
    return DestinationError(f"cannot connect to PostgreSQL: {text}", retryable=True)
