"""Use cases for models: a SQL query on a source, with a primary key and discovered columns.

Previews and column discoveries run on the user's warehouse, which may be slow. They run
after the request's metadata-store transaction has ended (its pooled connection is back in
the pool while the warehouse works), and at most ``preview_concurrency`` of them at once per
process: past that a request waits ``preview_wait_seconds`` for a slot, then gets a 503.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from syncline.connectors import registry
from syncline.connectors.base import ConnectorError, PreviewSource
from syncline.connectors.base import Source as SourceConnector
from syncline.domain.jsonsafe import json_safe_rows
from syncline.domain.validation import ValidationError
from syncline.security.secrets import SecretBox, SecretError
from syncline.services.common import Page, PageRequest, get_scoped, paginate
from syncline.services.errors import BusyError, ConflictError, NotFoundError
from syncline.settings import Settings
from syncline.store.tables import Model, Source, Sync

MAX_PREVIEW_ROWS = 1000

_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextmanager
def _warehouse_slot(session: Session, settings: Settings | None) -> Iterator[None]:
    """End the request's store transaction, then hold one of the process's preview slots.

    Without ``settings`` (the CLI, config apply: one caller at a time, in transactions of
    their own) neither happens.

    Raises:
        BusyError: every slot stayed taken for ``preview_wait_seconds``.
    """
    if settings is None:
        yield
        return
    # The warehouse query may take its whole timeout: the pooled connection must not wait too.
    session.commit()
    size = settings.preview_concurrency
    with _slots_lock:
        slot = _slots.setdefault(size, threading.BoundedSemaphore(size))
    if not slot.acquire(timeout=settings.preview_wait_seconds):
        raise BusyError(
            f"{size} model previews or column discoveries are already running on sources; "
            "try again in a few seconds"
        )
    try:
        yield
    finally:
        slot.release()


@contextmanager
def _opened(
    secrets: SecretBox, source: Source, *, loc: tuple[str, ...]
) -> Iterator[SourceConnector]:
    """The connector of ``source``, closed afterwards; setup failures become 422s at ``loc``."""
    try:
        conn = registry.open_source(source.type, secrets.decrypt_config(source.config))
    except (ConnectorError, SecretError, registry.UnknownConnectorError) as exc:
        raise ValidationError.at(loc, f"cannot open source {source.name!r}: {exc}") from None
    except pydantic.ValidationError as exc:
        raise ValidationError.at(
            loc, f"source {source.name!r} has an invalid config: {exc}"
        ) from None
    try:
        yield conn
    finally:
        conn.close()


def discover_columns(
    secrets: SecretBox,
    source: Source,
    sql: str,
    *,
    session: Session | None = None,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """The columns ``sql`` returns on ``source`` as ``[{"name", "type", "nullable"}]``.

    With ``session``, its transaction ends first and a preview slot is held meanwhile.

    Raises:
        ValidationError: the source refuses the query (bad SQL is the user's to fix).
        BusyError: no preview slot came free in time.
    """
    if session is not None:
        with _warehouse_slot(session, settings):
            return discover_columns(secrets, source, sql)
    with _opened(secrets, source, loc=("body", "sql")) as conn:
        try:
            return [c.as_dict() for c in conn.columns(sql)]
        except ConnectorError as exc:
            raise ValidationError.at(("body", "sql"), f"the query failed: {exc}") from None


def _source_in(session: Session, *, workspace_id: str, source_id: str) -> Source:
    try:
        return get_scoped(session, Source, workspace_id=workspace_id, id=source_id, kind="Source")
    except NotFoundError:
        raise ValidationError.at(
            ("body", "source_id"), "source not found in this workspace", "not_found"
        ) from None


def _check_primary_key(columns: list[dict[str, Any]], primary_key: str) -> None:
    names = [c["name"] for c in columns]
    if primary_key not in names:
        raise ValidationError.at(
            ("body", "primary_key"),
            f"primary key {primary_key!r} is not a column of the query; "
            f"columns: {', '.join(names)}",
        )


def list_models(
    session: Session,
    *,
    workspace_id: str,
    page: PageRequest,
    source_id: str | None = None,
    q: str | None = None,
) -> Page[Model]:
    """A page of the workspace's models, optionally of one source or with ``q`` in the name."""
    stmt = sa.select(Model).where(Model.workspace_id == workspace_id)
    if source_id:
        stmt = stmt.where(Model.source_id == source_id)
    if q:
        stmt = stmt.where(sa.func.lower(Model.name).contains(q.lower(), autoescape=True))
    return paginate(session, stmt, page=page, order_by=[Model.created_at, Model.id])


def get_model(session: Session, *, workspace_id: str, model_id: str) -> Model:
    """One model of the workspace, or NotFoundError("Model")."""
    return get_scoped(session, Model, workspace_id=workspace_id, id=model_id, kind="Model")


def create_model(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    name: str,
    source_id: str,
    sql: str,
    primary_key: str,
    description: str = "",
    settings: Settings | None = None,
) -> Model:
    """Create a model: its source must be in the workspace and its SQL must run there.

    ``settings`` bounds the column discovery (see the module docstring).
    """
    source = _source_in(session, workspace_id=workspace_id, source_id=source_id)
    columns = discover_columns(secrets, source, sql, session=session, settings=settings)
    _check_primary_key(columns, primary_key)
    model = Model(
        workspace_id=workspace_id,
        source_id=source.id,
        name=name,
        description=description,
        sql=sql,
        primary_key=primary_key,
        columns=columns,
    )
    session.add(model)
    session.commit()
    return model


def update_model(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    model_id: str,
    name: str | None = None,
    description: str | None = None,
    source_id: str | None = None,
    sql: str | None = None,
    primary_key: str | None = None,
    settings: Settings | None = None,
) -> Model:
    """Change a model; a new ``sql`` or ``source_id`` rediscovers the columns."""
    model = get_model(session, workspace_id=workspace_id, model_id=model_id)
    if source_id is not None or sql is not None:
        source = _source_in(
            session, workspace_id=workspace_id, source_id=source_id or model.source_id
        )
        model.columns = discover_columns(
            secrets,
            source,
            sql if sql is not None else model.sql,
            session=session,
            settings=settings,
        )
        model.source_id = source.id
        if sql is not None:
            model.sql = sql
    if primary_key is not None or model.columns is not None:
        pk = primary_key if primary_key is not None else model.primary_key
        if model.columns is not None:
            _check_primary_key(model.columns, pk)
        model.primary_key = pk
    if name is not None:
        model.name = name
    if description is not None:
        model.description = description
    session.commit()
    return model


def delete_model(session: Session, *, workspace_id: str, model_id: str) -> None:
    """Delete a model; refused (ConflictError) while syncs read it."""
    model = get_model(session, workspace_id=workspace_id, model_id=model_id)
    users = session.execute(
        sa.select(Sync.id, Sync.name).where(Sync.model_id == model.id).order_by(Sync.name)
    ).all()
    if users:
        names = ", ".join(f"{n} ({i})" for i, n in users)
        raise ConflictError(f"Model is used by syncs: {names}")
    session.delete(model)
    session.commit()


def preview_model(
    session: Session,
    *,
    secrets: SecretBox,
    workspace_id: str,
    model_id: str,
    limit: int = 20,
    settings: Settings | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first ``limit`` rows of a model, JSON-safe.

    Reads batches until ``limit`` rows and stops, so a big model costs one batch, not a scan
    held in memory. The source's preview timeout applies; ``settings`` bounds concurrency.

    Returns:
        ``(columns, rows)``: columns as ``[{"name", "type", "nullable"}]``, rows as dicts.
    """
    model = get_model(session, workspace_id=workspace_id, model_id=model_id)
    source = session.get(Source, model.source_id)
    if source is None:  # pragma: no cover - the foreign key forbids it
        raise NotFoundError("Source")
    limit = max(1, min(limit, MAX_PREVIEW_ROWS))
    with _warehouse_slot(session, settings):
        batches = _first_rows(secrets, source, model.sql, limit)
    if batches:
        table = pa.Table.from_batches(batches)
        columns = [
            {"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in table.schema
        ]
        return columns, json_safe_rows(table.to_pylist())
    return list(model.columns or []), []


def _first_rows(secrets: SecretBox, source: Source, sql: str, limit: int) -> list[pa.RecordBatch]:
    batches: list[pa.RecordBatch] = []
    with _opened(secrets, source, loc=("body",)) as conn:
        try:
            got = 0
            if isinstance(conn, PreviewSource):
                reader = conn.preview(sql, limit=limit)
            else:
                reader = conn.read(sql, batch_rows=limit)
            try:
                for batch in reader:
                    batches.append(batch.slice(0, limit - got))
                    got += min(batch.num_rows, limit - got)
                    if got >= limit:
                        break
            finally:
                close = getattr(reader, "close", None)
                if close is not None:
                    close()
        except ConnectorError as exc:
            raise ValidationError.at(("body",), f"the model query failed: {exc}") from None
    return batches
