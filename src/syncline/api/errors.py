"""Exception handlers: every error leaves the API as ``{"detail": ...}``, never as a 500.

* request and service validation errors -> 422 ``{"detail": [{"loc", "msg", "type"}]}``
  (FastAPI's format, without echoing the input back: it may hold secrets);
* unknown or foreign ids -> 404 ``{"detail": "Sync not found"}``;
* conflicts with the current state -> 409 ``{"detail": "..."}``;
* too many previews running on sources -> 503 with ``Retry-After``;
* a value the store refuses -> 422, a lost race on a constraint -> 409 (safety nets).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError

from syncline.domain.validation import ValidationError
from syncline.services.errors import BusyError, ConflictError, NotFoundError, UpstreamError


def _clean(errors: Any) -> list[dict[str, Any]]:
    return [
        {
            "loc": list(e.get("loc", ())),
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": _clean(exc.errors())})


async def _service_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ValidationError)
    return JSONResponse(status_code=422, content={"detail": [e.as_dict() for e in exc.errors]})


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotFoundError)
    return JSONResponse(status_code=404, content={"detail": exc.detail})


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConflictError)
    return JSONResponse(status_code=409, content={"detail": exc.detail})


async def _upstream(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UpstreamError)
    return JSONResponse(status_code=502, content={"detail": exc.detail})


async def _busy(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BusyError)
    return JSONResponse(
        status_code=503,
        content={"detail": exc.detail},
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    # A value the store refused (out of range, bad encoding) that validation let through:
    # it is still the request's fault, so answer 422 rather than a 500.
    return JSONResponse(
        status_code=422,
        content={
            "detail": [{"loc": ["body"], "msg": "a value cannot be stored", "type": "value_error"}]
        },
    )


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # A concurrent change won a race the services could not foresee (an object deleted while
    # another request was referencing it): the request may succeed when retried.
    return JSONResponse(
        status_code=409,
        content={"detail": "The request conflicts with a concurrent change; retry it"},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers above on ``app``."""
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ValidationError, _service_validation)
    app.add_exception_handler(NotFoundError, _not_found)
    app.add_exception_handler(ConflictError, _conflict)
    app.add_exception_handler(UpstreamError, _upstream)
    app.add_exception_handler(BusyError, _busy)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
