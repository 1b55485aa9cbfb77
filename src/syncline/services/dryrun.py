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
from syncline.services.catalog import CheckOutcome, check_stored
from syncline.services.common import get_scoped
from syncline.services.errors import UpstreamError, ValidationError
from syncline.store.tables import Destination, Model, Source, Sync


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

    The source's and the destination's connection checks run first and are reported
    (``checks``): a failed check makes the dry run fail (``ok`` false, ``error`` says why),
    still with the plan when the source could be read, since a run now would fail the same way.

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
    destination = get_scoped(
        session, Destination, workspace_id=workspace_id, id=sync.destination_id, kind="Destination"
    )
    checks = {
        "source": check_stored("source", source.type, dict(source.config or {}), ctx.secrets),
        "destination": check_stored(
            "destination", destination.type, dict(destination.config or {}), ctx.secrets
        ),
    }
    try:
        plan = dry_run(
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
        raise UpstreamError(f"{exc}{_failed_check(checks, 'source')}") from exc
    failed = [f"{kind} check failed: {c.message}" for kind, c in checks.items() if not c.ok]
    return {
        **plan,
        "ok": not failed,
        "error": "; ".join(failed),
        "checks": {kind: _check_dict(c) for kind, c in checks.items()},
    }


def _check_dict(check: CheckOutcome) -> dict[str, Any]:
    when = check.checked_at.isoformat().replace("+00:00", "Z")
    return {"ok": check.ok, "message": check.message, "checked_at": when}


def _failed_check(checks: dict[str, CheckOutcome], kind: str) -> str:
    check = checks[kind]
    return "" if check.ok else f" ({kind} check: {check.message})"
