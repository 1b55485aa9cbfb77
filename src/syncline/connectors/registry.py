"""Connector discovery through entry points (``syncline.sources``, ``syncline.destinations``).

A third party adds a connector by declaring an entry point in its own package; nothing in the
core changes.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from syncline.connectors.base import Destination, Source

SOURCE_GROUP = "syncline.sources"
DESTINATION_GROUP = "syncline.destinations"


class UnknownConnectorError(KeyError):
    """No connector of that type is installed."""


@lru_cache(maxsize=2)
def _load(group: str) -> dict[str, type[Any]]:
    return {ep.name: ep.load() for ep in entry_points(group=group)}


def source_types() -> dict[str, type[Source]]:
    """Installed source classes by type name."""
    return dict(_load(SOURCE_GROUP))


def destination_types() -> dict[str, type[Destination]]:
    """Installed destination classes by type name."""
    return dict(_load(DESTINATION_GROUP))


def source_class(type_name: str) -> type[Source]:
    try:
        return source_types()[type_name]
    except KeyError:
        raise UnknownConnectorError(type_name) from None


def destination_class(type_name: str) -> type[Destination]:
    try:
        return destination_types()[type_name]
    except KeyError:
        raise UnknownConnectorError(type_name) from None


def validate_config(cls: type[Any], config: dict[str, Any]) -> BaseModel:
    """Parse a connector config with the connector's own pydantic model.

    Raises:
        pydantic.ValidationError: the config does not fit the connector.
    """
    model: type[BaseModel] = cls.config_model
    return model.model_validate(config)


def open_source(type_name: str, config: dict[str, Any]) -> Source:
    """An instance of the source ``type_name`` over a decrypted config."""
    cls = source_class(type_name)
    return cls(validate_config(cls, config))  # type: ignore[call-arg]


def open_destination(type_name: str, config: dict[str, Any]) -> Destination:
    """An instance of the destination ``type_name`` over a decrypted config."""
    cls = destination_class(type_name)
    return cls(validate_config(cls, config))  # type: ignore[call-arg]


__all__ = [
    "UnknownConnectorError",
    "ValidationError",
    "destination_class",
    "destination_types",
    "open_destination",
    "open_source",
    "source_class",
    "source_types",
    "validate_config",
]
