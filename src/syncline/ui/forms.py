"""Dashboard forms: config inputs built from a config model's JSON Schema, and posting.

Each top-level setting becomes one input (text, number, checkbox, choice, a list of lines, or
JSON for nested settings). Secrets (``x-secret: secret`` in the schema, from the config
model's markers) are **write-only**: their input is always rendered empty. On an edit, an
empty secret input is sent to the service as ``********``, which keeps the stored secret;
"remove" sends nothing. Nested settings are shown as ``mask_config`` shows them, so their
secrets appear as ``********`` and are kept the same way. Validation stays in the services:
this module only turns inputs into the config dict the API would receive.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pydantic
from fastapi import Request
from fastapi.responses import RedirectResponse

from syncline.context import AppContext
from syncline.domain.validation import ValidationError
from syncline.security.secrets import MASK
from syncline.ui.session import read_form, verify_csrf

PREFIX = "config."
INPUT_KINDS = ("text", "secret", "integer", "number", "bool", "enum", "lines", "json")


@dataclass(frozen=True)
class ConfigField:
    """One input of a config form."""

    name: str
    label: str
    kind: str  # one of INPUT_KINDS
    required: bool
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()

    @property
    def input_name(self) -> str:
        return PREFIX + self.name

    @property
    def advanced(self) -> bool:
        """Optional settings with a default, and nested ones, go under "More settings"."""
        if self.required or self.kind == "secret":
            return False
        return self.default is not None or self.kind == "json"


def _plain(prop: dict[str, Any]) -> dict[str, Any]:
    """``prop`` with an ``anyOf [X, null]`` folded into X (keeping the outer keywords)."""
    options = [o for o in prop.get("anyOf", []) if o.get("type") != "null"]
    if len(options) == 1:
        return {**options[0], **{k: v for k, v in prop.items() if k != "anyOf"}}
    return prop


def _kind(prop: dict[str, Any]) -> str:
    if prop.get("x-secret") == "secret" or (prop.get("writeOnly") and "type" in prop):
        return "secret" if prop.get("type", "string") == "string" else "json"
    if "enum" in prop:
        return "enum"
    kind = prop.get("type")
    if kind == "array" and prop.get("items", {}).get("type") == "string":
        return "lines"
    if kind in ("integer", "number"):
        return str(kind)
    if kind == "boolean":
        return "bool"
    if kind == "string":
        return "text"
    return "json"  # objects, references, unions


def fields_of(schema: dict[str, Any]) -> list[ConfigField]:
    """The inputs of a config model's JSON Schema, required ones first."""
    required = set(schema.get("required", []))
    out = []
    for name, raw in schema.get("properties", {}).items():
        prop = _plain(raw)
        out.append(
            ConfigField(
                name=name,
                label=str(raw.get("title") or name.replace("_", " ").capitalize()),
                kind=_kind(prop),
                required=name in required,
                help=str(raw.get("description") or ""),
                default=raw.get("default"),
                choices=tuple(str(c) for c in prop.get("enum", [])),
            )
        )
    return sorted(out, key=lambda f: not f.required)


def shown_values(fields: list[ConfigField], masked: dict[str, Any]) -> dict[str, str]:
    """What each input shows for a stored config (already masked): never a secret's value."""
    out: dict[str, str] = {}
    for f in fields:
        value = masked.get(f.name)
        if f.kind == "secret" or value is None:
            continue
        if f.kind == "bool":
            out[f.name] = "on" if value else ""
        elif f.kind == "lines":
            out[f.name] = "\n".join(str(v) for v in value) if isinstance(value, list) else ""
        elif f.kind == "json":
            out[f.name] = json.dumps(value, indent=2, sort_keys=True)
        else:
            out[f.name] = str(value)
    return out


def stored_secrets(fields: list[ConfigField], masked: dict[str, Any]) -> set[str]:
    """The secret inputs that have a stored value (shown as "stored, leave empty to keep")."""
    return {f.name for f in fields if f.kind == "secret" and masked.get(f.name) not in (None, "")}


def redisplay(fields: list[ConfigField], form: dict[str, str]) -> dict[str, str]:
    """The submitted inputs to show again after an error, secrets left out."""
    out = {f.name: form.get(f.input_name, "") for f in fields if f.input_name in form}
    for f in fields:  # an unchecked box sends nothing but its marker
        if f.kind == "bool" and f"{f.input_name}.present" in form:
            out[f.name] = "on" if f.input_name in form else ""
    return {name: v for name, v in out.items() if name not in _secret_names(fields)}


def _secret_names(fields: list[ConfigField]) -> set[str]:
    return {f.name for f in fields if f.kind == "secret"}


def _number(kind: str, raw: str) -> Any:
    try:
        return int(raw) if kind == "integer" else float(raw)
    except ValueError:
        return raw  # the connector's model says what is wrong with it


def config_from_form(
    fields: list[ConfigField], form: dict[str, str], *, stored: Collection[str] = ()
) -> dict[str, Any]:
    """The config dict the inputs describe; ``stored`` secrets left empty are kept (``MASK``).

    Raises:
        ValidationError: a JSON input does not parse (at ``config.<name>``).
    """
    config: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f.input_name, "")
        if f.kind == "bool":
            if f"{PREFIX}{f.name}.present" in form:
                config[f.name] = f.input_name in form
            continue
        if f.kind == "secret":
            if raw:
                config[f.name] = raw
            elif f.name in stored and f"remove.{f.name}" not in form:
                config[f.name] = MASK
            continue
        raw = raw.strip()
        if not raw:
            continue
        if f.kind in ("integer", "number"):
            config[f.name] = _number(f.kind, raw)
        elif f.kind == "lines":
            config[f.name] = [line.strip() for line in raw.splitlines() if line.strip()]
        elif f.kind == "json":
            try:
                config[f.name] = json.loads(raw)
            except ValueError as exc:
                raise ValidationError.at(
                    ("body", "config", f.name), f"not valid JSON: {exc}"
                ) from None
        else:
            config[f.name] = raw
    return config


def field_errors(exc: Exception) -> dict[str, str]:
    """Input name (``name``, ``config.password``, ``sql``...) -> message, from a refusal."""
    if isinstance(exc, pydantic.ValidationError):
        pairs = [(tuple(e["loc"]), str(e["msg"])) for e in exc.errors()]
    elif isinstance(exc, ValidationError):
        pairs = [(tuple(e.loc), e.msg) for e in exc.errors]
    else:
        return {"": str(exc)}
    out: dict[str, str] = {}
    for loc, msg in pairs:
        parts = [str(p) for p in loc if p != "body"]
        key = ".".join(parts[:2]) if parts[:1] == ["config"] else ".".join(parts[:1])
        if parts[:1] == ["config"] and len(parts) > 2:
            msg = f"{'.'.join(parts[2:])}: {msg}"
        out[key] = f"{out[key]}; {msg}" if key in out else msg
    return out


def back(url: str, message: str = "") -> RedirectResponse:
    """A 303 to ``url``, with ``message`` shown there as a flash."""
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}msg={quote(message)}" if message else url, 303)


async def checked_form(request: Request, ctx: AppContext) -> dict[str, str]:
    """The posted form, after the CSRF check (403 otherwise)."""
    form = await read_form(request)
    verify_csrf(request, form, ctx)
    return form
