from tests.engine.conftest import harness, pg_harness  # noqa: F401  (shared fixtures)
