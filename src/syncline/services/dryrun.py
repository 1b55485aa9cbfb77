"""Use case: plan a run of a sync without writing anything (``POST .../dry-run``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from syncline.connectors.base import ConnectorError
from syncline.connectors.registry import UnknownConnectorError
from syncline.context import AppContext
from syncline.domain.enums import RunMode
from syncline.engine.dryrun import dry_run
from syncline.engine.mapping import MappingError
from syncline.execution.engine_env import read_env
from syncline.services.common import get_scoped
from syncline.services.errors import UpstreamError, ValidationError
from syncline.store.tables import Model, Source, Sync


def dry_run_sync(
    session: Session,
    *,
    ctx: AppContext,
    workspace_id: str,
    sync_id: str,
    run_mode: RunMode = RunMode.INCREMENTAL,
    sample_size: int = 10,
) -> dict[str, Any]:
    """The plan a run would follow now, with sample records; nothing is written anywhere.

    Raises:
        NotFoundError: no such sync in the workspace.
        ValidationError: the mapping no longer fits the model.
        UpstreamError: the source failed (unreachable, bad SQL).
    """
    sync = get_scoped(session, Sync, workspace_id=workspace_id, id=sync_id, kind="Sync")
    model = get_scoped(session, Model, workspace_id=workspace_id, id=sync.model_id, kind="Model")
    source = get_scoped(
        session, Source, workspace_id=workspace_id, id=model.source_id, kind="Source"
    )
    try:
        return dry_run(
            read_env(ctx),
            sync=sync,
            model=model,
            source=source,
            run_mode=run_mode,
            sample_size=sample_size,
        )
    except (MappingError, UnknownConnectorError) as exc:
        raise ValidationError.at(["sync"], str(exc)) from exc
    except ConnectorError as exc:
        raise UpstreamError(str(exc)) from exc
