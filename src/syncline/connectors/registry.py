"""Connector discovery through entry points (``syncline.sources``, ``syncline.destinations``).

A third party adds a connector by declaring an entry point in its own package; nothing in the
core changes.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel, ValidationError

from syncline.connectors.base import SAVING_CONTEXT, Destination, Source

log = logging.getLogger(__name__)

SOURCE_GROUP = "syncline.sources"
DESTINATION_GROUP = "syncline.destinations"


class UnknownConnectorError(KeyError):
    """No connector of that type is installed."""


@lru_cache(maxsize=64)
def _load_one(group: str, name: str) -> type[Any]:
    (ep,) = entry_points(group=group, name=name) or (None,)
    if ep is None:
        raise UnknownConnectorError(name)
    loaded: type[Any] = ep.load()
    return loaded


def _load(group: str) -> dict[str, type[Any]]:
    """Every installed connector of a group; one that fails to import is left out (logged)."""
    out: dict[str, type[Any]] = {}
    for ep in entry_points(group=group):
        try:
            out[ep.name] = _load_one(group, ep.name)
        except Exception:
            log.exception("connector %s:%s cannot be loaded", group, ep.name)
    return out


def source_types() -> dict[str, type[Source]]:
    """Installed source classes by type name."""
    return dict(_load(SOURCE_GROUP))


def destination_types() -> dict[str, type[Destination]]:
    """Installed destination classes by type name."""
    return dict(_load(DESTINATION_GROUP))


def source_class(type_name: str) -> type[Source]:
    """The source class registered as ``type_name``."""
    return _load_one(SOURCE_GROUP, type_name)


def destination_class(type_name: str) -> type[Destination]:
    """The destination class registered as ``type_name``."""
    return _load_one(DESTINATION_GROUP, type_name)


def validate_config(cls: type[Any], config: dict[str, Any], *, saving: bool = False) -> BaseModel:
    """Parse a connector config with the connector's own pydantic model.

    ``saving``: the config is being created or updated, so the validators that check where it
    points (network guard, file root) run too (see ``base.SAVING_CONTEXT``).

    Raises:
        pydantic.ValidationError: the config does not fit the connector.
    """
    model: type[BaseModel] = cls.config_model
    return model.model_validate(config, context=SAVING_CONTEXT if saving else None)


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
