from tests.fixtures.harness import harness, pg_harness  # noqa: F401  (shared fixtures)
