"""The model SQL guard: one read-only SELECT in the source's dialect, nothing else."""

from __future__ import annotations

import pytest

from syncline.connectors.base import SourceError
from syncline.connectors.sources._sqlguard import SqlGuardError, check_select

DIALECTS = ["duckdb", "postgres", "mysql", "sqlite"]

READS = [
    "SELECT 1 AS id",
    "SELECT * FROM customers WHERE id > 3 ORDER BY id",
    "WITH a AS (SELECT 1 AS id) SELECT * FROM a",
    "SELECT 1 AS id UNION ALL SELECT 2",
    "SELECT 1 AS id UNION SELECT 2 EXCEPT SELECT 3",
    "(SELECT 1 AS id)",
    "SELECT id FROM t -- a comment; DROP TABLE t",
    "SELECT 'a; DELETE FROM victim' AS s",
    "SELECT count(*) AS n FROM t GROUP BY x HAVING count(*) > 1",
]

# Refused in every dialect.
WRITES = [
    "DELETE FROM victim",
    "INSERT INTO victim VALUES (1)",
    "UPDATE victim SET a = 1",
    "DROP TABLE victim",
    "CREATE TABLE x AS SELECT 1",
    "ALTER TABLE victim ADD COLUMN b INT",
    "SELECT 1; DELETE FROM victim",
    "SELECT 1; SELECT 2",
    "SELECT 1 AS id) q; COMMIT; DELETE FROM victim; SELECT * FROM (SELECT 1 AS id",
    "COMMIT",
    "BEGIN",
    "SELECT 1 INTO victim_copy",
    "SELECT * FROM victim FOR UPDATE",
    "",
    "  ;  ",
    "SELEC 1",
]

BY_DIALECT = {
    "duckdb": [
        "COPY (SELECT 1) TO '/tmp/out.csv'",
        "EXPORT DATABASE '/tmp/dump'",
        "ATTACH '/tmp/other.db' AS other",
        "DETACH other",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA database_list",
        "SET enable_external_access = true",
        "RESET lock_configuration",
        "CALL pragma_version()",
        "CHECKPOINT",
        "DESCRIBE SELECT 1",
        "SELECT * FROM query('ATTACH ''/tmp/x.db''')",
    ],
    "postgres": [
        "COPY victim FROM PROGRAM 'id'",
        "COPY (SELECT 1) TO PROGRAM 'id'",
        "WITH d AS (DELETE FROM victim RETURNING *) SELECT * FROM d",
        "WITH i AS (INSERT INTO victim VALUES (1) RETURNING *) SELECT * FROM i",
        "SELECT * FROM victim FOR SHARE",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT pg_catalog.pg_read_binary_file('/etc/passwd')",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT * FROM dblink('dbname=x', 'DELETE FROM victim') AS t(a int)",
        "SELECT lo_import('/etc/passwd')",
        "SELECT query_to_xml('SELECT 1', true, true, '')",
        "DO $$ BEGIN DELETE FROM victim; END $$",
        "EXPLAIN ANALYZE DELETE FROM victim",
        "SET statement_timeout = 0",
        "SET TRANSACTION READ WRITE",
        "CALL do_things()",
        "TRUNCATE victim",
        "VACUUM",
        "LISTEN x",
    ],
    "mysql": [
        "SELECT * FROM victim INTO OUTFILE '/tmp/x'",
        "SELECT LOAD_FILE('/etc/passwd')",
        "LOAD DATA INFILE '/etc/passwd' INTO TABLE victim",
        "SELECT * FROM victim LOCK IN SHARE MODE",
        "HANDLER victim OPEN",
        "SET SESSION TRANSACTION READ WRITE",
        "CALL p()",
        "REPLACE INTO victim VALUES (1)",
        "SHOW GRANTS",
    ],
    "sqlite": [
        "ATTACH DATABASE '/tmp/x.db' AS x",
        "PRAGMA writable_schema = 1",
        "PRAGMA query_only = OFF",
        "VACUUM INTO '/tmp/copy.db'",
        "SELECT load_extension('/tmp/evil.so')",
        "SELECT writefile('/tmp/x', 'y')",
        "REPLACE INTO victim VALUES (1)",
    ],
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", READS)
def test_reads_pass_unchanged(dialect: str, sql: str) -> None:
    assert check_select(sql, dialect=dialect) == sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_trailing_semicolons_are_dropped(dialect: str) -> None:
    assert check_select("SELECT 1 AS id ;; \n", dialect=dialect) == "SELECT 1 AS id"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("sql", WRITES)
def test_writes_and_scripts_are_refused_everywhere(dialect: str, sql: str) -> None:
    with pytest.raises(SqlGuardError) as err:
        check_select(sql, dialect=dialect)
    assert "model SQL" in str(err.value)
    assert not err.value.retryable
    # A SourceError, so the services answer it as the user's 422 like any bad SQL.
    assert isinstance(err.value, SourceError)


@pytest.mark.parametrize(("dialect", "sql"), [(d, q) for d, qs in BY_DIALECT.items() for q in qs])
def test_dialect_attacks_are_refused(dialect: str, sql: str) -> None:
    with pytest.raises(SqlGuardError):
        check_select(sql, dialect=dialect)


def test_messages_say_what_is_wrong() -> None:
    with pytest.raises(SqlGuardError, match="exactly one SELECT statement, found 2"):
        check_select("SELECT 1; DELETE FROM victim", dialect="postgres")
    with pytest.raises(SqlGuardError, match="not COPY"):
        check_select("COPY victim FROM PROGRAM 'id'", dialect="postgres")
    with pytest.raises(SqlGuardError, match="DELETE is not allowed"):
        check_select("WITH d AS (DELETE FROM v RETURNING *) SELECT * FROM d", dialect="postgres")
    with pytest.raises(SqlGuardError, match=r"pg_read_file\(\)"):
        check_select("SELECT pg_read_file('/etc/passwd')", dialect="postgres")
    with pytest.raises(SqlGuardError, match="syntax error"):
        check_select("SELECT 1 AS id) q; COMMIT; SELECT (1", dialect="postgres")
    with pytest.raises(SqlGuardError, match="empty"):
        check_select(" ; ", dialect="sqlite")


def test_ordinary_functions_stay_allowed() -> None:
    # pg_sleep is a read (the statement timeout bounds it); sleep() in MySQL likewise.
    assert check_select("SELECT pg_sleep(0) AS x", dialect="postgres")
    assert check_select("SELECT SLEEP(0) AS x", dialect="mysql")
    assert check_select("SELECT * FROM read_parquet('/data/x.parquet')", dialect="duckdb")
