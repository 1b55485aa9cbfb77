"""``GET /metrics``: the Prometheus text exposition (docs/operations.md).

Outside ``/api/v1`` and the OpenAPI document, like ``/healthz``: scrapers do not hold
workspace tokens. With ``SYNCLINE_METRICS_TOKEN`` set the scraper must send it as a bearer
token; unset, the endpoint is open (serve it on a private network only).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from syncline.api.deps import CtxDep
from syncline.observability.metrics import render

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: CtxDep, request: Request) -> Response:
    """The metrics of this host's processes and the queue gauges from the store."""
    token = ctx.settings.metrics_token
    if token:
        sent = request.headers.get("Authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return JSONResponse(
                {"detail": "Not authenticated"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
    body, content_type = render(ctx.sessions)
    return Response(body, media_type=content_type)
