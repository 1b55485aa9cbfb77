"""Read a directory of YAML files into declared objects, with ``${ENV_VAR}`` substitution.

The order of work matters for safety: secrets are checked on the text *as written* (a
literal password in a file is refused even if it happens to look like a variable's value),
then variables are substituted in the parsed values (so a variable's value is never parsed as
YAML), then the result is validated. Every problem of every file is collected and reported
at once, each with ``file:line``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import pydantic
import yaml

from syncline.config.errors import ConfigError, Origin
from syncline.config.schema import ConfigFile, DestinationDecl, ModelDecl, SourceDecl, SyncDecl
from syncline.security.secrets import is_secret_key

__all__ = ["KINDS", "SECTIONS", "Config", "Entry", "load_config"]

KINDS = ("source", "model", "destination", "sync")
SECTIONS = {"source": "sources", "model": "models", "destination": "destinations", "sync": "syncs"}
# ``${NAME}`` is a variable; ``$${NAME}`` is the literal text ``${NAME}``.
_VAR_RE = re.compile(r"\$(\$?)\{([^}]*)\}")
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_ONE_VAR_RE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}\Z")

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A declared object and where it is written."""

    decl: T
    origin: Origin


@dataclass
class Config:
    """Everything the files declare, by kind and name."""

    sources: dict[str, Entry[SourceDecl]] = field(default_factory=dict)
    models: dict[str, Entry[ModelDecl]] = field(default_factory=dict)
    destinations: dict[str, Entry[DestinationDecl]] = field(default_factory=dict)
    syncs: dict[str, Entry[SyncDecl]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def of(self, kind: str) -> dict[str, Entry[Any]]:
        """The declared objects of ``kind`` (source, model, destination, sync) by name."""
        entries: dict[str, Entry[Any]] = getattr(self, SECTIONS[kind])
        return entries


class _LineDict(dict[Any, Any]):
    """A YAML mapping that remembers its lines (its own and each key's) for error messages."""

    line: int = 0
    key_lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    """Safe YAML that records lines and refuses duplicate keys (PyYAML keeps the last one)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _LineDict:
    loader.flatten_mapping(node)
    out = _LineDict()
    out.line = node.start_mark.line + 1
    out.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            )
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = key_node.start_mark.line + 1
    return out


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> str:
    # Dates stay text: the store keeps JSON, and a sync config's "2024-01-01" means that text.
    return str(loader.construct_scalar(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError([f"{path}: no such file or directory"])
    found = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.suffix in (".yml", ".yaml") and not p.name.startswith(".")
    )
    if not found:
        raise ConfigError([f"{path}: no *.yml or *.yaml files in this directory"])
    return found


def _where(raw: Any, loc: tuple[Any, ...]) -> tuple[int, str]:
    """The line of the innermost mapping on ``loc`` and a readable path to the problem."""
    line = raw.line if isinstance(raw, _LineDict) else 0
    parts: list[str] = []
    node = raw
    for i, step in enumerate(loc):
        if isinstance(step, int):
            parts.append(f"[{step}]")
        else:
            parts.append(f".{step}" if parts else str(step))
        if isinstance(node, _LineDict) and step in node.key_lines:
            line = node.key_lines[step]
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, _LineDict) and isinstance(step, int):
            line = node.line
            if i == 1 and isinstance(node.get("name"), str):
                parts.append(f" ({node['name']!r})")
    return line, "".join(parts)


def _problem(file: str, raw: Any, loc: tuple[Any, ...], msg: str) -> str:
    line, path = _where(raw, loc)
    origin = Origin(file, line)
    return f"{origin}: {path}: {msg}" if path else f"{origin}: {msg}"


def _inline_secret(key: Any, value: Any) -> bool:
    """A secret-looking key with a value other than one whole ``${VAR}`` (or null)."""
    if not (isinstance(key, str) and is_secret_key(key)) or value is None:
        return False
    return not (isinstance(value, str) and _ONE_VAR_RE.match(value))


def _check_secrets(file: str, raw: Any, problems: list[str]) -> None:
    """Refuse a secret-looking connection config key whose value is written in the file."""

    def walk(value: Any, loc: tuple[Any, ...]) -> None:
        if not isinstance(value, dict):
            return
        for key, item in value.items():
            if isinstance(item, dict):
                walk(item, (*loc, key))
            elif _inline_secret(key, item):
                var = re.sub(r"[^A-Za-z0-9]+", "_", key).strip("_").upper()
                problems.append(
                    _problem(
                        file,
                        raw,
                        (*loc, key),
                        f"{key!r} is a secret and must not be written in the file: "
                        f"use {key}: ${{{var}}} and set {var} in the environment",
                    )
                )

    if not isinstance(raw, dict):
        return
    # Only connections keep secrets (encrypted); a sync's config is plain settings.
    for section in ("sources", "destinations"):
        items = raw.get(section)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict) and isinstance(item.get("config"), dict):
                    walk(item["config"], (section, i, "config"))


def _substitute(file: str, root: Any, env: Mapping[str, str], problems: list[str]) -> Any:
    """``root`` with ``${NAME}`` replaced in every string value (keys are left alone)."""

    def walk(value: Any, loc: tuple[Any, ...]) -> Any:
        if isinstance(value, dict):
            return {k: walk(v, (*loc, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*loc, i)) for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value

        def replace(match: re.Match[str]) -> str:
            escaped, name = match.group(1), match.group(2)
            if escaped:
                return "${" + name + "}"
            if not _NAME_RE.match(name):
                problems.append(_problem(file, root, loc, f"${{{name}}} is not a variable name"))
            elif name not in env:
                problems.append(
                    _problem(file, root, loc, f"environment variable {name} is not set")
                )
            else:
                return env[name]
            return match.group(0)

        return _VAR_RE.sub(replace, value)

    return walk(root, ())


def _read(path: Path, problems: list[str]) -> tuple[str, Any] | None:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{file}: cannot read: {exc}")
        return None
    try:
        raw = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        problems.append(f"{where}: invalid YAML: {exc.problem or exc.context}")
        return None
    except yaml.YAMLError as exc:
        problems.append(f"{file}: invalid YAML: {exc}")
        return None
    if raw is None:
        return None  # an empty file declares nothing
    if not isinstance(raw, dict):
        problems.append(
            f"{file}:1: the top level must be a mapping with sources, models, destinations "
            "and syncs"
        )
        return None
    return file, raw


def _parse(file: str, raw: Any, env: Mapping[str, str], problems: list[str]) -> ConfigFile | None:
    before = len(problems)
    _check_secrets(file, raw, problems)
    data = _substitute(file, raw, env, problems)
    try:
        parsed = ConfigFile.model_validate(data)
    except pydantic.ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            problems.append(_problem(file, raw, tuple(err["loc"]), err["msg"]))
        return None
    return parsed if len(problems) == before else None


def load_config(path: Path, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (a YAML file, or a directory of ``*.yml``/``*.yaml`` files, not recursive).

    Args:
        path: the file or directory.
        env: the variables ``${NAME}`` may use; the process environment by default.

    Raises:
        ConfigError: every problem found, each with ``file:line``.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    config = Config()
    for file_path in _files(path):
        config.files.append(str(file_path))
        read = _read(file_path, problems)
        if read is None:
            continue
        file, raw = read
        parsed = _parse(file, raw, env, problems)
        if parsed is None:
            continue
        for kind in KINDS:
            section = SECTIONS[kind]
            for i, decl in enumerate(getattr(parsed, section)):
                origin = Origin(file, _where(raw, (section, i))[0])
                known = config.of(kind)
                if decl.name in known:
                    problems.append(
                        f"{origin}: {kind} {decl.name!r} is already declared at "
                        f"{known[decl.name].origin}; names are unique per kind"
                    )
                else:
                    known[decl.name] = Entry(decl, origin)
    if problems:
        raise ConfigError(problems)
    return config
