"""Source registration and config validation: what the control plane relies on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from syncline.connectors.base import Source
from syncline.connectors.registry import source_class, validate_config

SOURCES = ["duckdb", "postgres", "mysql", "sqlite"]
SECRET_MARKERS = ("password", "dsn", "token")


@pytest.mark.parametrize("name", SOURCES)
def test_entry_point_loads_a_source_class(name: str) -> None:
    cls = source_class(name)
    assert cls.__module__ == f"syncline.connectors.sources.{name}"
    for attr in ("check", "columns", "read", "close", "config_model"):
        assert hasattr(cls, attr)
    schema = cls.config_model.model_json_schema()
    assert schema["type"] == "object"


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("duckdb", {}),
        ("duckdb", {"path": "/data/w.duckdb", "read_only": False}),
        ("postgres", {"dsn": "postgresql://u:p@db.example:5432/warehouse"}),
        ("postgres", {"host": "db", "user": "u", "password": "p", "database": "w"}),
        ("postgres", {"host": "db", "user": "u", "database": "w", "sslmode": "require"}),
        ("mysql", {"host": "db", "user": "u", "database": "w"}),
        ("sqlite", {"path": "/data/w.sqlite"}),
    ],
)
def test_valid_configs_build_a_source(name: str, config: dict[str, Any]) -> None:
    cls = source_class(name)
    src = cls(validate_config(cls, config))
    assert isinstance(src, Source)
    src.close()


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("duckdb", {"path": "x.duckdb", "unknown": 1}),
        ("postgres", {}),
        ("postgres", {"dsn": "postgresql://db/w", "host": "db"}),
        ("postgres", {"host": "db", "user": "u"}),
        ("postgres", {"host": "db", "user": "u", "database": "w", "sslmode": "sometimes"}),
        ("postgres", {"dsn": "postgresql://db/w", "schema": "public"}),
        ("mysql", {"host": "db", "user": "u"}),
        ("mysql", {"host": "db", "user": "u", "database": "w", "port": 0}),
        ("sqlite", {}),
        ("sqlite", {"path": ""}),
    ],
)
def test_invalid_configs_are_rejected(name: str, config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        validate_config(source_class(name), config)


def test_invalid_dsn_error_does_not_echo_the_password() -> None:
    with pytest.raises(ValidationError) as err:
        validate_config(source_class("postgres"), {"dsn": "host=db password=hunter2 port='5432"})
    assert "hunter2" not in str(err.value)


@pytest.mark.parametrize("name", ["postgres", "mysql"])
def test_secrets_sit_in_fields_the_control_plane_encrypts(name: str) -> None:
    fields = source_class(name).config_model.model_fields
    assert any(marker in f for f in fields for marker in SECRET_MARKERS)
    assert "password" in fields
