"""The engine suite's fixtures: the shared harness (``tests/fixtures/harness.py``).

``Harness`` and ``make_harness`` stay importable from here for suites that still do.
"""

from tests.fixtures.harness import Harness, harness, make_harness, pg_harness

_harness = make_harness  # the old name

__all__ = ["Harness", "_harness", "harness", "make_harness", "pg_harness"]
