"""``/healthz``: is the metadata store reachable and migrated? (for load balancers)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from syncline.api.deps import CtxDep
from syncline.api.schemas.common import HealthOut
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
    """200 ``{"status": "ok"}`` when the store answers and is migrated, else 503."""
    try:
        ok = is_up_to_date(ctx.engine)
        detail = "" if ok else "the metadata store is not migrated: run `syncline db upgrade`"
    except Exception as exc:  # any failure to reach the store means "not healthy", not a 500
        ok, detail = False, f"the metadata store is unreachable: {type(exc).__name__}"
    if not ok:
        return JSONResponse(
            HealthOut(status="unavailable", detail=detail).model_dump(), status_code=503
        )
    return HealthOut(status="ok")
