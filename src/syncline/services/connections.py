"""What sources and destinations share: connector type checks and encrypted, validated configs.

Which values are secrets is declared by the connector's config model (``secret_spec``).
A config is validated by the connector's own pydantic model *with its secrets in clear*
(a masked ``********`` sent back on update is first replaced by the stored secret), then stored
with every secret encrypted. API answers only ever show ``mask_config`` of the stored form.
"""

from __future__ import annotations

from typing import Any, Literal

import pydantic

from syncline.connectors import registry
from syncline.domain.validation import ErrorDetail, ValidationError
from syncline.security.secrets import MASK, SecretBox, SecretError, secret_spec, still_masked

Kind = Literal["source", "destination"]


def connector_class(kind: Kind, type_name: str, *, loc: tuple[str, ...] = ("body", "type")) -> Any:
    """The installed connector class of ``type_name``, or a 422 listing the valid types."""
    types: dict[str, Any] = (
        dict(registry.source_types()) if kind == "source" else dict(registry.destination_types())
    )
    try:
        return types[type_name]
    except KeyError:
        valid = ", ".join(sorted(types)) or "(none installed)"
        raise ValidationError.at(
            loc, f"unknown {kind} type {type_name!r}; valid types: {valid}", "enum"
        ) from None


def config_errors(
    exc: pydantic.ValidationError, loc: tuple[str | int, ...] = ("body", "config")
) -> ValidationError:
    """A connector config's pydantic errors as API errors, without echoing the input."""
    return ValidationError(
        [ErrorDetail((*loc, *e["loc"]), e["msg"], e["type"]) for e in exc.errors()]
    )


def seal_config(
    secrets: SecretBox,
    cls: Any,
    config: dict[str, Any],
    *,
    previous: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Validate ``config`` for connector ``cls`` and return its stored (encrypted) form.

    Args:
        secrets: the process's secret box.
        cls: the connector class (its ``config_model`` validates).
        config: the config as the user sent it; ``********`` keeps the previous secret.
        previous: the stored config being replaced, if any.
    """
    spec = secret_spec(cls.config_model)
    try:
        stored = secrets.encrypt_config(config, previous=previous, spec=spec)
        clear = secrets.decrypt_config(stored)
        masked = still_masked(clear, spec)
        if masked:
            raise ValidationError.at(
                ("body", "config", *masked),
                f"{MASK} keeps a stored secret, but there is none to keep here: send the value",
            )
        registry.validate_config(cls, clear, saving=True)
    except pydantic.ValidationError as exc:
        raise config_errors(exc) from None
    except SecretError as exc:
        raise ValidationError.at(("body", "config"), str(exc)) from None
    return stored
