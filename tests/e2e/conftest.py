"""Shared by the process-level tests: the process helpers of ``tests/fixtures/servers.py``.

Re-exported here for suites that import them from this module.
"""

from tests.fixtures.servers import SECRET, SYNCLINE, pg_store, spawn, stop

__all__ = ["SECRET", "SYNCLINE", "pg_store", "spawn", "stop"]
