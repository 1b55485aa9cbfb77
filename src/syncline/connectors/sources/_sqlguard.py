"""The model SQL guard: a model is exactly one read-only SELECT, whatever text it is given.

Every SQL source calls :func:`check_select` before it sends a model to its database. The SQL is
parsed with sqlglot in the source's own dialect; it must be one statement whose root is a
query (``SELECT``, ``WITH ... SELECT``, ``UNION``/``INTERSECT``/``EXCEPT``) and whose tree holds
no statement that writes, changes the session or reaches outside the database (``INSERT``,
``COPY``, ``ATTACH``, ``SET``, ``PRAGMA``, ``SELECT ... INTO``, ``FOR UPDATE``, data-modifying
CTEs, ...), nor a function of the dialect's deny list (file, program and config access).

The guard is the first of several locks, never the only one: each source also runs the query
with one-statement-only protocols, in a read-only transaction, with a statement timeout, and
DuckDB with external access off. SQL that sqlglot cannot parse is refused, not waved through.
"""

from __future__ import annotations

import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from syncline.connectors.base import SourceError

__all__ = ["SqlGuardError", "check_select", "denied_functions", "strip_sql"]

# Nodes that make a statement more than a read, wherever they sit in the tree.
_FORBIDDEN: tuple[type, ...] = (
    exp.DML,  # INSERT, UPDATE, DELETE (also inside a CTE)
    exp.DDL,  # CREATE, DROP, ...
    exp.Alter,
    exp.Drop,
    exp.Merge,
    exp.Command,  # whatever sqlglot could not parse as a known statement: LOAD, CALL, DO, ...
    exp.Copy,
    exp.Set,
    exp.Pragma,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Export,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Describe,
    exp.Summarize,
    exp.Kill,
    exp.Grant,
    exp.Revoke,
    exp.Analyze,
    exp.LoadData,
    exp.Refresh,
    exp.Cache,
    exp.Uncache,
    exp.Into,  # SELECT ... INTO a table or a file
    exp.Lock,  # FOR UPDATE / FOR SHARE take locks a read must not take
)

# Functions that read or write server files, run programs, open other connections (which are
# not read-only), change settings or run a SQL string the guard never saw.
_DENIED_FUNCTIONS: dict[str, frozenset[str]] = {
    "postgres": frozenset(
        {
            "pg_read_file",
            "pg_read_binary_file",
            "pg_ls_dir",
            "pg_stat_file",
            "pg_ls_logdir",
            "pg_ls_waldir",
            "pg_ls_tmpdir",
            "pg_ls_archive_statusdir",
            "pg_file_write",
            "lo_import",
            "lo_export",
            "lo_from_bytea",
            "lo_put",
            "lo_create",
            "lo_creat",
            "lo_unlink",
            "dblink",
            "dblink_exec",
            "dblink_connect",
            "dblink_connect_u",
            "dblink_send_query",
            "dblink_open",
            "set_config",
            "query_to_xml",
            "query_to_xml_and_xmlschema",
            "query_to_xmlschema",
            "pg_terminate_backend",
            "pg_cancel_backend",
            "pg_reload_conf",
            "pg_rotate_logfile",
            "pg_switch_wal",
            "pg_promote",
            "pg_create_restore_point",
        }
    ),
    "mysql": frozenset({"load_file", "sys_exec", "sys_eval"}),
    "sqlite": frozenset({"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}),
    "duckdb": frozenset({"query", "json_execute_serialized_sql", "getenv"}),
}

# Queries only; VALUES and DuckDB's PIVOT/UNPIVOT statements are reads too.
_QUERY_ROOTS: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.SetOperation,
    exp.Subquery,
    exp.Values,
    exp.Pivot,
)

# sqlglot logs a warning for each statement it falls back to parsing as a Command; the guard
# refuses those statements with its own message, so the warning is noise.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


class SqlGuardError(SourceError):
    """The model SQL is not one read-only SELECT; the user has to change it."""

    reason_code = "invalid_model_sql"


def strip_sql(sql: str) -> str:
    """The model SQL without trailing semicolons and whitespace, so it can be nested.

    Raises:
        SourceError: the SQL is empty; there is nothing to read.
    """
    text = sql.strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    if not text:
        raise SqlGuardError("the model SQL is empty")
    return text


def denied_functions(dialect: str) -> frozenset[str]:
    """The lower-case names of the functions a model of ``dialect`` may not call."""
    return _DENIED_FUNCTIONS.get(dialect, frozenset())


def _function_name(node: exp.Func) -> str:
    name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
    return name.lower()


def check_select(sql: str, *, dialect: str) -> str:
    """``sql`` stripped of trailing semicolons, once it is known to be one read-only SELECT.

    Args:
        sql: the model SQL as the user wrote it.
        dialect: the sqlglot dialect of the source (``duckdb``, ``postgres``, ``mysql``,
            ``sqlite``).

    Raises:
        SqlGuardError: the SQL is empty, does not parse, holds more than one statement, or is
            anything but a read-only query.
    """
    text = strip_sql(sql)
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SqlGuardError(
            f"the model SQL must be one SELECT statement; it does not parse as {dialect} "
            f"SQL (syntax error: {first})"
        ) from None
    if len(statements) != 1:
        raise SqlGuardError(
            f"the model SQL must be exactly one SELECT statement, found {len(statements)}"
        )
    (tree,) = statements
    if not isinstance(tree, _QUERY_ROOTS):
        raise SqlGuardError(
            f"the model SQL must be a SELECT query, not {tree.key.upper()}: models are read-only"
        )
    denied = denied_functions(dialect)
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN):
            raise SqlGuardError(
                f"the model SQL must be a read-only SELECT; {node.key.upper()} is not allowed"
            )
        if isinstance(node, exp.Func) and _function_name(node) in denied:
            raise SqlGuardError(
                f"the model SQL may not call {_function_name(node)}(): it reaches outside "
                "the query (files, programs, settings or other connections)"
            )
    return text
