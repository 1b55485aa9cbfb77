"""Arrow <-> MySQL glue for the MySQL destination: SQL literals, column types, errors.

Rows travel as multi-row ``INSERT`` statements whose values are rendered by Arrow compute
kernels (no Python loop per value for the common types). Measured on MariaDB 10.11 this is
as fast as ``LOAD DATA LOCAL INFILE`` into a staging table followed by ``INSERT ... SELECT``
(both ~100-130k rows/s) and, unlike ``LOAD DATA LOCAL`` (which downgrades bad values to
warnings), it keeps strict mode: a bad value fails its statement and can be isolated.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pymysql

from syncline.connectors.base import DestinationAuthError, DestinationError

# Errors caused by the values of some rows (bad value, violated constraint): bisecting the
# batch isolates them. Every other error fails the whole batch.
_CONSTRAINT_CODES = frozenset({1048, 1062, 1364, 1451, 1452, 3819, 4025})
_VALUE_CODES = frozenset(
    {1264, 1265, 1292, 1300, 1366, 1367, 1406, 1411, 1416, 1525, 1690, 3140, 4038, 4078}
)
# Transient conditions: too many connections, shutdown, lock wait, deadlock, interrupted,
# killed, statement time limit, network read/write errors. Client errors (>= 2000) are all
# about the connection (refused, lost, server gone away).
_RETRYABLE_CODES = frozenset({1040, 1053, 1158, 1159, 1160, 1161, 1205, 1213, 1317, 1927, 1969})
_RETRYABLE_CODES |= frozenset({3024})
_AUTH_CODES = frozenset({1044, 1045, 1142, 1143, 1227, 1698})
_AT_ROW = re.compile(r" at row \d+$")

UTC_COMMENT = "UTC"  # column comment of DATETIME columns created for zoned timestamps
KEY_TEXT = "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
SQL_MODE = "STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO"


def ident(name: str) -> str:
    """A backtick-quoted identifier; a backtick inside the name is doubled."""
    return "`" + name.replace("`", "``") + "`"


def text_literal(value: str) -> str:
    """One string as a MySQL literal (the session never sets NO_BACKSLASH_ESCAPES)."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\x00", "\\0")
    return "'" + escaped + "'"


def mysql_type_for(arrow_type: pa.DataType, *, key: bool = False) -> str:
    """The column type that holds an Arrow type (for CREATE TABLE); keys must be indexable."""
    t = arrow_type
    if pa.types.is_dictionary(t):
        return mysql_type_for(t.value_type, key=key)
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    ints = {8: "TINYINT", 16: "SMALLINT", 32: "INT", 64: "BIGINT"}
    if pa.types.is_signed_integer(t):
        return ints[t.bit_width]
    if pa.types.is_unsigned_integer(t):
        return ints[t.bit_width] + " UNSIGNED"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "FLOAT"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_decimal(t) and t.precision <= 65 and t.scale <= 30:
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        digits = {"s": "", "ms": "(3)"}.get(t.unit, "(6)")
        return f"DATETIME{digits}" + (f" COMMENT '{UTC_COMMENT}'" if t.tz else "")
    if pa.types.is_time(t) or pa.types.is_duration(t):
        return "TIME(6)"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return "VARBINARY(255)" if key else "LONGBLOB"
    if _is_nested(t):
        return KEY_TEXT if key else "JSON"
    return KEY_TEXT if key else "LONGTEXT"


def _is_nested(t: pa.DataType) -> bool:
    return bool(pa.types.is_nested(t) or pa.types.is_map(t))


def _quote(arr: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Strings as quoted literals, escaped by vectorised kernels (NULL stays NULL)."""
    arr = pc.replace_substring(arr, "\\", "\\\\")
    arr = pc.replace_substring(arr, "'", "\\'")
    arr = pc.replace_substring(arr, "\x00", "\\0")
    return pc.binary_join_element_wise("'", arr, "'", "")


def _per_value(arr: pa.ChunkedArray, fn: Callable[[Any], str]) -> pa.Array:
    """Python conversion, only for the few types no Arrow kernel renders."""
    return pa.array([None if v is None else fn(v) for v in arr.to_pylist()], pa.string())


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _json_literal(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        value = dict(value)  # Arrow maps come back as lists of (key, value) pairs
    return text_literal(json.dumps(value, default=_json_default, separators=(",", ":")))


def _time_literal(value: time | timedelta) -> str:
    if isinstance(value, time):
        return "'" + value.isoformat() + "'"
    micros = value // timedelta(microseconds=1)
    sign, micros = ("-" if micros < 0 else ""), abs(micros)
    seconds, frac = divmod(micros, 1_000_000)
    return f"'{sign}{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}.{frac:06}'"


def literals(arr: pa.ChunkedArray) -> pa.ChunkedArray | pa.Array:
    """One column as SQL literal text, ``NULL`` for nulls, ready to join into VALUES rows."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return literals(pc.cast(arr, t.value_type))
    out: pa.ChunkedArray | pa.Array
    if pa.types.is_null(t):
        out = pa.array(["NULL"] * len(arr), pa.string())
    elif pa.types.is_boolean(t):
        out = pc.if_else(arr, "TRUE", "FALSE")
    elif pa.types.is_integer(t) or pa.types.is_decimal(t):
        out = pc.cast(arr, pa.string())
    elif pa.types.is_floating(t):
        text = pc.cast(pc.cast(arr, pa.float64()), pa.string())
        # nan/inf are no numbers to MySQL: sent quoted, strict mode rejects just that row.
        out = pc.if_else(pc.is_finite(arr), text, _quote(text))
    elif pa.types.is_date(t):
        out = _quote(pc.cast(arr, pa.string()))
    elif pa.types.is_timestamp(t):
        unit = "us" if t.unit == "ns" else t.unit
        # Zoned values are stored as their UTC wall time (the session's time zone is UTC).
        naive = pc.cast(arr, pa.timestamp(unit), safe=False)
        out = _quote(pc.cast(naive, pa.string()))
    elif pa.types.is_time(t) or pa.types.is_duration(t):
        out = _per_value(arr, _time_literal)
    elif pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        out = _per_value(arr, lambda v: "X'" + bytes(v).hex() + "'")
    elif pa.types.is_binary_view(t):
        return literals(pc.cast(arr, pa.binary()))
    elif _is_nested(t):
        out = _per_value(arr, _json_literal)
    else:
        out = _quote(pc.cast(arr, pa.string()))
    return pc.fill_null(out, "NULL")


def key_literals(column: pa.ChunkedArray) -> list[str]:
    """The keys as literals for ``IN (...)`` lists (a delete's text keys stay quoted text)."""
    if column.num_chunks == 0 or len(column) == 0:
        return []
    out: list[str] = literals(column).to_pylist()
    return out


def norm_key(value: Any) -> str:
    """A key as comparable text, whether it came from Arrow or back from the server."""
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, datetime) and value.tzinfo is not None:
        return str(value.astimezone(UTC).replace(tzinfo=None))  # stored as UTC wall time
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return str(int(value))
    return str(value)


def error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def mysql_message(exc: BaseException) -> str:
    """The server's message without its ``at row N`` (rows are counted per statement)."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    text = str(args[1]) if len(args) > 1 else str(exc)
    return _AT_ROW.sub("", text.strip())


def is_row_level(exc: pymysql.Error) -> bool:
    """Whether the error comes from one row's values, so bisecting can isolate the row."""
    code = error_code(exc)
    return code in _CONSTRAINT_CODES or code in _VALUE_CODES


def error_class(exc: pymysql.Error) -> str:
    """The RecordError class of a row-level error."""
    return "constraint_violation" if error_code(exc) in _CONSTRAINT_CODES else "invalid_value"


def batch_error(exc: BaseException, what: str) -> DestinationError:
    """A whole-batch failure as the DestinationError the engine knows how to handle."""
    code = error_code(exc)
    prefix = f"({code}) " if code else ""
    message = f"{what}: {prefix}{mysql_message(exc)}"
    if code in _AUTH_CODES:
        return DestinationAuthError(message)
    retryable = (
        isinstance(exc, pymysql.InterfaceError | OSError)
        or code in _RETRYABLE_CODES
        or (code is not None and code >= 2000)
    )
    return DestinationError(message, retryable=retryable)
