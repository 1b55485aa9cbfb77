from tests.fixtures.harness import harness  # noqa: F401  (shared fixture)
