from tests.engine.conftest import harness  # noqa: F401  (shared fixture)
