"""The routes sources and destinations share: list, create, get, update, delete a connection.

One implementation serves both (``sources.py`` and ``destinations.py`` only name their paths,
schemas and service); operation names, docs and answers stay each kind's own.

No ``from __future__ import annotations`` here: FastAPI reads the endpoints' parameter
types, which are the factory's arguments, from their evaluated annotations.
"""

import uuid
from dataclasses import dataclass
from types import ModuleType
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status

from syncline.api.deps import CtxDep, SessionDep, WorkspaceDep
from syncline.api.pagination import PAGE_HEADERS, PageAsc, set_page_headers
from syncline.api.schemas.common import SCOPED, DeletedOut, errors
from syncline.api.schemas.connections import ConnectionOut

NameFilter = Annotated[
    str | None, Query(max_length=255, pattern=r"^[^\x00]*$", description="Name contains.")
]
TypeFilter = Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")]
CheckQuery = Annotated[
    bool,
    Query(
        description="Run the connection check after saving and answer it as ``check`` "
        "(a failed check does not undo the save); false skips it."
    ),
]


@dataclass(frozen=True)
class Kind:
    """What differs between the two kinds of connection in the API."""

    plural: str  # "sources": the path, the tag, the operation names
    singular: str  # "source"
    id_alias: str  # "sourceId"
    out: type[ConnectionOut]
    create: type[Any]
    update: type[Any]
    # services.sources / services.destinations: its public functions are called by name
    # (list_sources, get_source, ...), so what they add is what the API answers.
    service: ModuleType
    delete_doc: str  # who keeps a connection from being deleted


def connection_router(k: Kind) -> APIRouter:
    """The five routes of ``/api/v1/workspaces/{id}/<plural>`` for one kind of connection."""
    router = APIRouter(
        prefix=f"/api/v1/workspaces/{{id}}/{k.plural}", tags=[k.plural], responses=SCOPED
    )
    a = "an" if k.singular[0] in "aeiou" else "a"
    Out, Create, Update = k.out, k.create, k.update
    IdPath = Annotated[
        uuid.UUID, Path(alias=k.id_alias, description=f"{k.singular.capitalize()} id.")
    ]
    item = f"/{{{k.id_alias}}}"
    key = f"{k.singular}_id"

    def fn(verb: str, noun: str) -> Any:
        return getattr(k.service, f"{verb}_{noun}")

    def checked(session: Any, ctx: Any, workspace_id: str, row_id: str) -> Any:
        """The saved connection's check (``check_source`` / ``check_destination``)."""
        return fn("check", k.singular)(
            session, secrets=ctx.secrets, workspace_id=workspace_id, **{key: row_id}
        )

    @router.get(
        "",
        summary=f"List {k.plural}",
        response_model=list[Out],  # type: ignore[valid-type]
        responses={200: {"headers": PAGE_HEADERS}},
        name=f"list_{k.plural}",
        description=f"The workspace's {k.plural}, oldest first.",
    )
    def list_(
        workspace: WorkspaceDep,
        session: SessionDep,
        request: Request,
        response: Response,
        page: PageAsc,
        type: TypeFilter = None,
        q: NameFilter = None,
    ) -> list[ConnectionOut]:
        result = fn("list", k.plural)(session, workspace_id=workspace.id, page=page, type=type, q=q)
        set_page_headers(response, request, result)
        return [Out.of(s) for s in result.items]

    @router.post(
        "",
        summary=f"Create {a} {k.singular}",
        status_code=status.HTTP_201_CREATED,
        response_model=Out,
        name=f"create_{k.singular}",
        description=f"Create {a} {k.singular}; ``config`` is checked by the connector and its "
        "secrets encrypted.",
    )
    def create(
        workspace: WorkspaceDep,
        session: SessionDep,
        ctx: CtxDep,
        body: Create,  # type: ignore[valid-type]
        check: CheckQuery = True,
    ) -> ConnectionOut:
        row = fn("create", k.singular)(
            session,
            secrets=ctx.secrets,
            workspace_id=workspace.id,
            name=body.name,  # type: ignore[attr-defined]
            type=body.type,  # type: ignore[attr-defined]
            config=body.config,  # type: ignore[attr-defined]
        )
        return Out.of(row, check=checked(session, ctx, workspace.id, row.id) if check else None)

    @router.get(
        item,
        summary=f"Get {a} {k.singular}",
        response_model=Out,
        name=f"get_{k.singular}",
        description=f"One {k.singular}; secrets are shown as ********.",
    )
    def get(workspace: WorkspaceDep, session: SessionDep, id_: IdPath) -> ConnectionOut:
        return Out.of(fn("get", k.singular)(session, workspace_id=workspace.id, **{key: str(id_)}))

    @router.put(
        item,
        summary=f"Update {a} {k.singular}",
        response_model=Out,
        name=f"update_{k.singular}",
        description="Change the fields sent; in ``config``, ``********`` keeps a stored secret.",
    )
    def update(
        workspace: WorkspaceDep,
        session: SessionDep,
        ctx: CtxDep,
        id_: IdPath,
        body: Update,  # type: ignore[valid-type]
        check: CheckQuery = True,
    ) -> ConnectionOut:
        row = fn("update", k.singular)(
            session,
            secrets=ctx.secrets,
            workspace_id=workspace.id,
            **{key: str(id_)},
            name=body.name,  # type: ignore[attr-defined]
            type=body.type,  # type: ignore[attr-defined]
            config=body.config,  # type: ignore[attr-defined]
        )
        return Out.of(row, check=checked(session, ctx, workspace.id, row.id) if check else None)

    @router.delete(
        item,
        summary=f"Delete {a} {k.singular}",
        response_model=DeletedOut,
        responses=errors(409),
        name=f"delete_{k.singular}",
        description=f"Delete {a} {k.singular} {k.delete_doc} (409 otherwise).",
    )
    def delete(workspace: WorkspaceDep, session: SessionDep, id_: IdPath) -> DeletedOut:
        fn("delete", k.singular)(session, workspace_id=workspace.id, **{key: str(id_)})
        return DeletedOut()

    return router
