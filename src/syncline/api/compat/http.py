"""The vendor's wire conventions: its auth, its error bodies, its response envelopes.

* Auth: the workspace's Syncline tokens, sent as ``Authorization: Bearer <token>`` or as HTTP
  Basic with user ``bearer`` and the token as password (how the vendor's own clients send it;
  a ``secret-token:`` prefix some of them add is dropped).
* Errors: ``{"status": "not_found" | "error", "message": ...}`` (422s also list the problems
  in ``errors``), raised by the same services as the primary API and only reshaped here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, IntegrityError

from syncline.api.deps import CtxDep, SessionDep, authenticate_request
from syncline.domain.validation import ValidationError
from syncline.services.errors import ConflictError, NotFoundError, UpstreamError
from syncline.store.tables import ApiToken

_PREFIX = "secret-token:"


def envelope(status: str, data: Any, code: int = 200, **extra: Any) -> JSONResponse:
    """The vendor's response: ``{"status": ..., "data": ...}`` (plus e.g. ``pagination``)."""
    return JSONResponse({"status": status, "data": data, **extra}, status_code=code)


def error(code: int, message: str, **extra: Any) -> JSONResponse:
    status = "not_found" if code == 404 else "error"
    headers = {"WWW-Authenticate": 'Basic realm="api", Bearer'} if code == 401 else None
    return JSONResponse(
        {"status": status, "message": message, **extra}, status_code=code, headers=headers
    )


# Syncline's field names, as the vendor's body calls them (the services report Syncline's).
_VENDOR_NAMES = {
    "field_mapping": "mappings",
    "source_column": "from.data",
    "destination_field": "to",
    "constant_value": "from.data",
    "sync_mode": "operation",
    "model_id": "source_attributes.object",
    "destination_id": "destination_attributes.connection_id",
    "primary_key": "mappings.is_primary_identifier",
    "schedule": "schedule_frequency",
    "high_water_mark": "high_water_mark_attributes.column_name",
    "config": "advanced_configuration",
}


def _problems(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "field": ".".join(
                _VENDOR_NAMES.get(str(p), str(p)) for p in e.get("loc", ()) if p != "body"
            ),
            "message": e["msg"],
        }
        for e in errors
    ]


def _as_vendor(exc: Exception) -> JSONResponse | None:
    if isinstance(exc, RequestValidationError):
        probs = _problems(exc.errors())
        return error(422, "; ".join(f"{p['field']}: {p['message']}" for p in probs), errors=probs)
    if isinstance(exc, ValidationError):
        probs = _problems([e.as_dict() for e in exc.errors])
        return error(422, "; ".join(f"{p['field']}: {p['message']}" for p in probs), errors=probs)
    if isinstance(exc, NotFoundError):
        return error(404, exc.detail)
    if isinstance(exc, ConflictError):
        return error(409, exc.detail)
    if isinstance(exc, UpstreamError):
        return error(502, exc.detail)
    if isinstance(exc, HTTPException):
        return error(exc.status_code, str(exc.detail))
    if isinstance(exc, DataError):
        return error(422, "a value cannot be stored")
    if isinstance(exc, IntegrityError):
        return error(409, "The request conflicts with a concurrent change; retry it")
    return None


class VendorRoute(APIRoute):
    """A route whose every error, validation included, leaves in the vendor's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except Exception as exc:
                shaped = _as_vendor(exc)
                if shaped is None:
                    raise
                return shaped

        return handler


def _raw_token(authorization: str) -> str | None:
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password if user == "bearer" and password else None
    return None


def get_token(request: Request, ctx: CtxDep, session: SessionDep) -> ApiToken:
    """The caller's live token from either header form; limits and roles as on our API."""
    raw = _raw_token(request.headers.get("authorization", ""))
    return authenticate_request(request, ctx, session, raw.removeprefix(_PREFIX) if raw else None)


VendorToken = Annotated[ApiToken, Depends(get_token)]
