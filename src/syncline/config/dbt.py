"""Import dbt models as Syncline models, from the ``manifest.json`` dbt writes.

Each dbt model becomes a model named after it that reads ``SELECT * FROM <relation>``, so
Syncline always syncs what dbt built last and the SQL lives in one place: dbt. The primary
key comes, in this order, from ``meta.syncline.primary_key``, a ``primary_key`` constraint
on one column, or a ``unique`` test on one column; a model with none is skipped with a
message saying how to add one, never imported with a guessed key. Import creates and
updates (matched by name), never deletes: a model dropped from dbt may still feed syncs.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.config.apply import describe
from syncline.domain.validation import ValidationError
from syncline.security.secrets import SecretBox
from syncline.services import models as model_service
from syncline.services.errors import ConflictError, NotFoundError, UpstreamError
from syncline.services.workspaces import get_workspace
from syncline.store.tables import Model, Source

__all__ = [
    "DbtImportError",
    "DbtModel",
    "ImportOutcome",
    "import_models",
    "manifest_models",
    "read_manifest",
    "select_models",
]

HOW_TO_KEY = (
    "set meta: {syncline: {primary_key: <column>}} on the model in its schema.yml "
    "(or config.meta), or add a unique test on one column"
)
Op = Literal["create", "update", "unchanged", "skip", "error"]


class DbtImportError(Exception):
    """The manifest, the selection or the target cannot be used at all."""


@dataclass(frozen=True)
class DbtModel:
    """What Syncline needs of one dbt model node; ``problem`` says why it cannot be imported."""

    unique_id: str
    name: str
    relation_name: str | None
    description: str
    tags: tuple[str, ...]
    primary_key: str | None
    key_origin: str
    problem: str = ""

    @property
    def sql(self) -> str:
        return f"SELECT * FROM {self.relation_name}"


@dataclass
class ImportOutcome:
    """What happened to one dbt model."""

    name: str
    op: Op
    detail: str = ""
    model_id: str | None = None
    dbt_unique_id: str = ""


def read_manifest(path: Path) -> dict[str, Any]:
    """The parsed manifest, or DbtImportError saying how to produce one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DbtImportError(
            f"{path}: no such file; run dbt (parse, run or build) to write target/manifest.json"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DbtImportError(f"{path}: not a readable dbt manifest: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise DbtImportError(f"{path}: not a dbt manifest (no 'nodes')")
    return data


def _one_column(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value if isinstance(value, str) and value else None


def _meta_key(node: dict[str, Any]) -> tuple[str | None, str]:
    for meta in (node.get("meta") or {}, (node.get("config") or {}).get("meta") or {}):
        wanted = meta.get("syncline") if isinstance(meta, dict) else None
        if isinstance(wanted, dict) and "primary_key" in wanted:
            key = _one_column(wanted["primary_key"])
            if key is None:
                return None, "meta.syncline.primary_key must name exactly one column"
            return key, ""
    return None, ""


def _constraint_key(node: dict[str, Any]) -> str | None:
    for constraint in node.get("constraints") or []:
        if constraint.get("type") == "primary_key":
            return _one_column(constraint.get("columns"))
    for name, column in (node.get("columns") or {}).items():
        if any(c.get("type") == "primary_key" for c in column.get("constraints") or []):
            return str(column.get("name") or name)
    return None


def _tested_columns(manifest: dict[str, Any], test_name: str) -> dict[str, set[str]]:
    """Model unique_id -> the single columns a generic ``test_name`` test checks."""
    found: dict[str, set[str]] = defaultdict(set)
    for node in manifest["nodes"].values():
        meta = node.get("test_metadata") or {}
        if node.get("resource_type") != "test" or meta.get("name") != test_name:
            continue
        if meta.get("namespace") not in (None, "dbt"):
            continue
        depends = (node.get("depends_on") or {}).get("nodes") or []
        model = node.get("attached_node") or (depends[0] if len(depends) == 1 else None)
        column = (meta.get("kwargs") or {}).get("column_name") or node.get("column_name")
        if model and isinstance(column, str) and column:
            found[model].add(column)
    return found


def manifest_models(manifest: dict[str, Any]) -> list[DbtModel]:
    """Every enabled model of the manifest (latest versions only), by name."""
    unique = _tested_columns(manifest, "unique")
    not_null = _tested_columns(manifest, "not_null")
    out = []
    for uid, node in manifest["nodes"].items():
        config = node.get("config") or {}
        if node.get("resource_type") != "model" or config.get("enabled") is False:
            continue
        latest = node.get("latest_version")
        if latest is not None and node.get("version") != latest:
            continue
        key, problem = _meta_key(node)
        origin = "meta.syncline.primary_key" if key else ""
        if key is None and not problem:
            key = _constraint_key(node)
            origin = "primary_key constraint" if key else ""
        if key is None and not problem and unique.get(uid):
            # Prefer a unique column that is also tested not null: that is a real key.
            candidates = sorted(unique[uid], key=lambda c: (c not in not_null.get(uid, ()), c))
            key, origin = candidates[0], f"unique test on {candidates[0]}"
        if key is None and not problem:
            problem = f"no primary key: {HOW_TO_KEY}"
        relation = node.get("relation_name")
        if not relation:
            materialized = config.get("materialized") or "unknown"
            problem = f"dbt builds no relation for it (materialized: {materialized})"
        tags = tuple(dict.fromkeys([*(node.get("tags") or []), *(config.get("tags") or [])]))
        out.append(
            DbtModel(
                unique_id=uid,
                name=str(node.get("name")),
                relation_name=relation,
                description=str(node.get("description") or ""),
                tags=tags,
                primary_key=key,
                key_origin=origin,
                problem=problem,
            )
        )
    return sorted(out, key=lambda m: (m.name, m.unique_id))


def select_models(models: list[DbtModel], selectors: list[str]) -> tuple[list[DbtModel], list[str]]:
    """The models matching any selector (``tag:NAME`` or a model name); all without selectors.

    Returns:
        ``(models, warnings)``: a selector matching nothing is a warning, as in dbt.
    """
    tokens = [t for s in selectors for t in s.split()]
    if not tokens:
        return list(models), []
    chosen: dict[str, DbtModel] = {}
    warnings = []
    for token in tokens:
        method, _, value = token.rpartition(":")
        if method not in ("", "tag"):
            raise DbtImportError(f"unsupported selector {token!r}: use tag:NAME or a model name")
        hits = [m for m in models if (value in m.tags if method else m.name == value)]
        if not hits:
            warnings.append(f"selector {token!r} matched no dbt model")
        chosen.update((m.unique_id, m) for m in hits)
    return [m for m in models if m.unique_id in chosen], warnings


def _source(session: Session, workspace_id: str, name: str) -> Source:
    try:
        get_workspace(session, workspace_id=workspace_id)
    except NotFoundError:
        raise DbtImportError(f"workspace {workspace_id} not found") from None
    rows = list(
        session.scalars(
            sa.select(Source).where(Source.workspace_id == workspace_id, Source.name == name)
        )
    )
    if len(rows) == 1:
        return rows[0]
    if rows:
        raise DbtImportError(f"{len(rows)} sources are named {name!r}; rename all but one")
    known = session.scalars(sa.select(Source.name).where(Source.workspace_id == workspace_id))
    raise DbtImportError(
        f"no source named {name!r} in the workspace; sources: {', '.join(known) or '(none)'}"
    )


def _existing(session: Session, workspace_id: str) -> dict[str, list[Model]]:
    found: dict[str, list[Model]] = defaultdict(list)
    for row in session.scalars(sa.select(Model).where(Model.workspace_id == workspace_id)):
        found[row.name].append(row)
    return found


def _state(model: Model) -> tuple[Any, ...]:
    return (model.source_id, model.sql, model.primary_key, model.description, model.columns)


def _import_one(
    session: Session,
    secrets: SecretBox,
    workspace_id: str,
    source: Source,
    dbt: DbtModel,
    existing: list[Model],
    dry_run: bool,
) -> ImportOutcome:
    out = ImportOutcome(dbt.name, "skip", dbt.problem, dbt_unique_id=dbt.unique_id)
    if dbt.problem:
        return out
    assert dbt.primary_key is not None
    if len(existing) > 1:
        out.op, out.detail = "error", f"{len(existing)} Syncline models have this name"
        return out
    wanted = (source.id, dbt.sql, dbt.primary_key, dbt.description)
    if not existing:
        out.op, out.detail = "create", f"primary key {dbt.primary_key} ({dbt.key_origin})"
        if not dry_run:
            row = model_service.create_model(
                session,
                secrets=secrets,
                workspace_id=workspace_id,
                name=dbt.name,
                source_id=source.id,
                sql=dbt.sql,
                primary_key=dbt.primary_key,
                description=dbt.description,
            )
            out.model_id = row.id
        return out
    row = existing[0]
    out.model_id = row.id
    before = _state(row)
    if dry_run:
        # Columns are only known by asking the source, which a dry run does not do.
        out.op = "update" if before[:4] != wanted else "unchanged"
        return out
    # Always rediscover: "SELECT *" stays the same text when dbt adds a column.
    row = model_service.update_model(
        session,
        secrets=secrets,
        workspace_id=workspace_id,
        model_id=row.id,
        source_id=source.id,
        sql=dbt.sql,
        primary_key=dbt.primary_key,
        description=dbt.description,
    )
    out.op = "update" if _state(row) != before else "unchanged"
    return out


def import_models(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    source_name: str,
    models: list[DbtModel],
    dry_run: bool = False,
) -> list[ImportOutcome]:
    """Create or update a Syncline model for each dbt model, on the source ``source_name``.

    A model the source refuses (its relation does not exist there, a key that is not a
    column ...) is reported as an ``error`` outcome and the others still go ahead.

    Raises:
        DbtImportError: no such workspace, or no single source of that name.
    """
    source = _source(session, workspace_id, source_name)
    existing = _existing(session, workspace_id)
    counts: dict[str, int] = defaultdict(int)
    for m in models:
        counts[m.name] += 1
    outcomes = []
    for dbt in models:
        if counts[dbt.name] > 1:
            detail = "several dbt models (in different packages) have this name"
            outcomes.append(ImportOutcome(dbt.name, "error", detail, dbt_unique_id=dbt.unique_id))
            continue
        try:
            outcomes.append(
                _import_one(
                    session, secrets, workspace_id, source, dbt, existing[dbt.name], dry_run
                )
            )
        except (ValidationError, ConflictError, NotFoundError, UpstreamError) as exc:
            session.rollback()
            outcomes.append(
                ImportOutcome(dbt.name, "error", describe(exc), dbt_unique_id=dbt.unique_id)
            )
    return outcomes
