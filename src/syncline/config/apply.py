"""Carry out a plan through the same services the API calls, so the same rules apply.

Each action is one service call and one transaction, in the plan's order (sources, models,
destinations, syncs; deletes in reverse). The first failure stops the apply: what was done
stays done, and running ``apply`` again after fixing the files picks up from there, since
the plan is always computed against the store as it is.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any

import pydantic
from sqlalchemy.orm import Session

from syncline.config.diff import declared_status, top_field
from syncline.config.errors import ConfigError
from syncline.config.plan import CHANGES, Action, Plan
from syncline.config.schema import SyncDecl
from syncline.config.state import read_state
from syncline.context import AppContext
from syncline.domain.validation import ValidationError
from syncline.services import destinations, models, sources, syncs
from syncline.services.audit import Actor, acting_as
from syncline.services.errors import ConflictError, NotFoundError, UpstreamError
from syncline.services.sync_spec import SyncPatch, SyncSpec

__all__ = ["ApplyError", "apply_plan"]

# API names of fields that the files write as references by name.
_FIELD_NAMES = {
    "source_id": "source",
    "model_id": "model",
    "destination_id": "destination",
    "trigger_after_sync_ids": "trigger_after",
}


class ApplyError(ConfigError):
    """An action failed; ``done`` lists the actions carried out before it."""

    def __init__(self, problem: str, done: list[Action]) -> None:
        super().__init__([problem])
        self.done = done


def _loc(loc: tuple[Any, ...]) -> str:
    parts = [str(_FIELD_NAMES.get(p, p)) for p in loc if p != "body"]
    return ".".join(parts)


def describe(exc: Exception) -> str:
    """A service failure as one line: every 422 problem with the field it is about."""
    if isinstance(exc, ValidationError):
        return "; ".join(f"{_loc(e.loc)}: {e.msg}" if e.loc else e.msg for e in exc.errors)
    if isinstance(exc, pydantic.ValidationError):
        return "; ".join(
            f"{_loc(tuple(e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False)
        )
    if isinstance(exc, ConflictError | NotFoundError | UpstreamError):
        return exc.detail
    return str(exc)


class _Applier:
    """Runs the actions, tracking the id of every name (created ones included)."""

    def __init__(self, ctx: AppContext, session: Session, workspace_id: str) -> None:
        self.ctx = ctx
        self.session = session
        self.ws = workspace_id
        state = read_state(session, workspace_id=workspace_id)
        self.ids: dict[str, dict[str, str]] = {
            kind: {name: rows[0].id for name, rows in groups.items() if len(rows) == 1}
            for kind, groups in state.by_name.items()
        }

    def run(self, action: Action) -> None:
        handlers: dict[tuple[str, str], Callable[[Action], str | None]] = {
            ("create", "source"): self._create_connection,
            ("create", "destination"): self._create_connection,
            ("update", "source"): self._update_connection,
            ("update", "destination"): self._update_connection,
            ("create", "model"): self._create_model,
            ("update", "model"): self._update_model,
            ("create", "sync"): self._create_sync,
            ("update", "sync"): self._update_sync,
        }
        if action.op == "delete":
            self._delete(action)
            return
        new_id = handlers[(action.op, action.kind)](action)
        if new_id is not None:
            action.id = new_id
            self.ids[action.kind][action.name] = new_id

    def _create_connection(self, action: Action) -> str:
        decl = action.decl
        create: Callable[..., Any] = (
            sources.create_source if action.kind == "source" else destinations.create_destination
        )
        row = create(
            self.session,
            secrets=self.ctx.secrets,
            workspace_id=self.ws,
            name=decl.name,
            type=decl.type,
            config=decl.config,
        )
        return str(row.id)

    def _update_connection(self, action: Action) -> None:
        decl, fields = action.decl, _top_fields(action)
        kwargs: dict[str, Any] = {
            "type": decl.type if "type" in fields else None,
            "config": decl.config if "config" in fields else None,
        }
        assert action.id is not None
        if action.kind == "source":
            sources.update_source(
                self.session,
                secrets=self.ctx.secrets,
                workspace_id=self.ws,
                source_id=action.id,
                **kwargs,
            )
        else:
            destinations.update_destination(
                self.session,
                secrets=self.ctx.secrets,
                workspace_id=self.ws,
                destination_id=action.id,
                **kwargs,
            )

    def _create_model(self, action: Action) -> str:
        decl = action.decl
        row = models.create_model(
            self.session,
            secrets=self.ctx.secrets,
            workspace_id=self.ws,
            name=decl.name,
            source_id=self.ids["source"][decl.source],
            sql=decl.sql,
            primary_key=decl.primary_key,
            description=decl.description,
        )
        return row.id

    def _update_model(self, action: Action) -> None:
        decl, fields = action.decl, _top_fields(action)
        assert action.id is not None
        models.update_model(
            self.session,
            secrets=self.ctx.secrets,
            workspace_id=self.ws,
            model_id=action.id,
            source_id=self.ids["source"][decl.source] if "source" in fields else None,
            sql=decl.sql if "sql" in fields else None,
            primary_key=decl.primary_key if "primary_key" in fields else None,
            description=decl.description if "description" in fields else None,
        )

    def _references(self, decl: SyncDecl) -> dict[str, Any]:
        return {
            "model_id": self.ids["model"][decl.model],
            "destination_id": self.ids["destination"][decl.destination],
            "trigger_after_sync_ids": [self.ids["sync"][n] for n in decl.trigger_after],
        }

    def _create_sync(self, action: Action) -> str:
        decl: SyncDecl = action.decl
        data = decl.model_dump(
            mode="json", exclude_none=True, exclude={"model", "destination", "trigger_after"}
        )
        spec = SyncSpec.model_validate({**data, **self._references(decl)})
        row = syncs.create_sync(
            self.session,
            queue=self.ctx.queue,
            workspace_id=self.ws,
            created_by=None,
            spec=spec,
            secrets=self.ctx.secrets,
        )
        return row.id

    def _update_sync(self, action: Action) -> None:
        decl: SyncDecl = action.decl
        fields = _top_fields(action)
        if "schedule" in fields:
            fields.add("trigger_mode")  # say it, rather than let the service infer it
        values = {**decl.model_dump(mode="json"), **self._references(decl)}
        values["trigger_mode"] = _trigger_of(decl)
        values["status"] = declared_status(decl)
        api_fields = {next((k for k, v in _FIELD_NAMES.items() if v == f), f) for f in fields}
        patch = SyncPatch.model_validate({f: values[f] for f in api_fields})
        assert action.id is not None
        syncs.update_sync(
            self.session,
            workspace_id=self.ws,
            sync_id=action.id,
            patch=patch,
            secrets=self.ctx.secrets,
        )

    def _delete(self, action: Action) -> None:
        assert action.id is not None
        s, ws = self.session, self.ws
        if action.kind == "sync":
            syncs.delete_sync(s, workspace_id=ws, sync_id=action.id)
        elif action.kind == "destination":
            destinations.delete_destination(s, workspace_id=ws, destination_id=action.id)
        elif action.kind == "model":
            models.delete_model(s, workspace_id=ws, model_id=action.id)
        else:
            sources.delete_source(s, workspace_id=ws, source_id=action.id)


def _top_fields(action: Action) -> set[str]:
    """The declared fields an update touches (``config.auth.token`` is ``config``)."""
    return {top_field(c) for c in action.changes}


def _trigger_of(decl: SyncDecl) -> str:
    if decl.trigger_mode is not None:
        return decl.trigger_mode.value
    return "scheduled" if decl.schedule is not None else "manual"


def apply_plan(ctx: AppContext, plan: Plan) -> list[Action]:
    """Carry out every create, update and delete of ``plan``, in order.

    Returns:
        The actions carried out (created objects now have their ``id``).

    Raises:
        ApplyError: an action failed; the message names the object, its file and line, and
            every problem the service found, with the field it is about.
    """
    done: list[Action] = []
    actor = Actor(None, f"config apply ({getpass.getuser()})", "config")
    with acting_as(actor), ctx.sessions() as session:
        applier = _Applier(ctx, session, plan.workspace_id)
        for action in plan.actions:
            if action.op not in CHANGES:
                continue
            try:
                applier.run(action)
            except (
                ValidationError,
                pydantic.ValidationError,
                ConflictError,
                NotFoundError,
                UpstreamError,
            ) as exc:
                session.rollback()
                where = f"{action.origin}: " if action.origin else ""
                ident = f" ({action.id})" if action.op == "delete" else ""
                problem = (
                    f"{where}cannot {action.op} {action.kind} {action.name!r}{ident}: "
                    f"{describe(exc)}"
                )
                raise ApplyError(problem, done) from exc
            done.append(action)
    return done
