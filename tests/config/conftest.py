"""Fixtures of the config-as-code tests (stores shared with ``tests/dbt``)."""

from tests.config.stores import _pg_store, _stores, ctx, workspace_id

__all__ = ["_pg_store", "_stores", "ctx", "workspace_id"]
