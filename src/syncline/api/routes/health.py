"""``/healthz``: is the metadata store reachable and migrated? (for load balancers).

``degraded`` (200: the server still answers) when the data directory's disk is full or
nearly so: runs would fail to record their outcomes there.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from syncline.api.deps import CtxDep
from syncline.api.schemas.common import HealthOut
from syncline.observability.health import data_dir_problem
from syncline.store.db import is_up_to_date

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="Health check",
    response_model=HealthOut,
    response_model_exclude_none=True,
    responses={503: {"model": HealthOut, "description": "Store unreachable or not migrated"}},
)
def healthz(ctx: CtxDep) -> HealthOut | JSONResponse:
    """200 ``{"status": "ok"}`` when the store answers and is migrated, else 503; 200
    ``degraded`` with the reason while the data directory is out of space."""
    try:
        ok = is_up_to_date(ctx.engine)
        detail = "" if ok else "the metadata store is not migrated: run `syncline db upgrade`"
    except Exception as exc:  # any failure to reach the store means "not healthy", not a 500
        ok, detail = False, f"the metadata store is unreachable: {type(exc).__name__}"
    if not ok:
        return JSONResponse(
            HealthOut(status="unavailable", detail=detail).model_dump(), status_code=503
        )
    problem = data_dir_problem(ctx.settings.data_dir, ctx.settings.min_free_disk_mb << 20)
    if problem:
        return HealthOut(status="degraded", detail=problem)
    return HealthOut(status="ok")
