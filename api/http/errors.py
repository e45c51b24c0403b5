"""One error envelope for every error: ours, the domain's and Litestar's own."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.types import ExceptionHandlersMap

from api.http.schemas import VERSION_TAG, ErrorBody, ErrorDetail, ErrorEnvelope, Header
from application.errors import (
    BlobStoreUnavailable,
    ConcurrentUpdate,
    DatabaseUnavailable,
    IdempotencyKeyReused,
    InsufficientStorage,
    ResourceNotFound,
    Unauthenticated,
    UploadTooLarge,
)
from domain.errors import InvalidValue, SizeMismatch, UploadIncomplete

logger = logging.getLogger(__name__)

NOTHING_HERE = (
    "Nothing is here. The API's paths are listed at /schema/swagger"
    " (the OpenAPI document: /schema/openapi.json)."
)
"""The message of a 404 for a path the service does not have."""
JSON_BODY_LIMIT = 1024 * 1024
"""The largest JSON request body (413 beyond it); uploads have MAX_UPLOAD_BYTES."""

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "service_unavailable",
    507: "insufficient_storage",
}


class ApiError(HTTPException):
    """An error answered with the envelope: status, code, message and details."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[ErrorDetail] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail=message, status_code=status_code, headers=headers)
        self.code = code or CODES.get(status_code, "error")
        self.message = message
        self.details = list(details)


ERRORS = {
    400: "A malformed query parameter, header or JSON body",
    401: "No API key, or not a live one (`WWW-Authenticate: Bearer`)",
    403: "The signed URL is not signed, its signature does not match, or it has expired",
    404: "No such resource in the key's project",
    408: "The upload sent nothing for UPLOAD_IDLE_TIMEOUT seconds: its bytes were discarded",
    409: "The resource kept changing under 12 attempts: retry",
    412: "If-Match does not match the current version, which the `ETag` names",
    413: "A JSON body over 1 MiB",
    415: "A body that is not JSON where JSON is expected",
    422: "A body with wrong types, unknown fields or values that break a rule",
    500: "A fault of the service (logged, with the request id)",
    503: "The database (`Retry-After: 2`) or the blob store (`Retry-After: 5`) cannot be"
    " reached: nothing was changed. Also more than LIMIT_CONCURRENCY connections at once"
    " (a plain-text answer from the HTTP server)",
    507: "The file store's disk has less free space than MIN_FREE_DISK_BYTES",
}
"""What each error status means, unless an endpoint says more."""
ERROR_HEADERS: dict[int, tuple[Header, ...]] = {
    401: (
        Header(
            "WWW-Authenticate",
            description="The scheme to authenticate with",
            required=True,
            schema={"type": "string", "enum": ["Bearer"]},
        ),
    ),
    412: (VERSION_TAG,),
    503: (
        Header(
            "Retry-After",
            description="Seconds to wait: 2 for the database, 5 for the blob store (absent from"
            " the HTTP server's own answer to too many connections)",
            schema={"type": "integer", "minimum": 0},
        ),
    ),
}
"""The headers an error status carries, whichever endpoint answers it. A `ResponseSpec`
has no headers: `api.http.openapi` adds them to the document."""


def error_responses(*statuses: int | tuple[int, str]) -> dict[int, ResponseSpec]:
    """The OpenAPI description of an endpoint's errors: each status given (alone, or
    with what it means there) and 500, each in the error envelope, with the headers
    of `ERROR_HEADERS`."""
    described = dict(
        status if isinstance(status, tuple) else (status, ERRORS[status])
        for status in (*statuses, 500)
    )
    return {
        status: ResponseSpec(ErrorEnvelope, description=description, generate_examples=False)
        for status, description in sorted(described.items())
    }


def unauthorized(message: str = "The API key is not valid.") -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, f"No such {what}.")


async def enveloped_not_found(response: Response[Any]) -> Response[Any]:
    """`after_request`: the OpenAPI router's own 404 page for a path under /schema
    it does not serve (an HTML page) becomes the JSON envelope every other 404 is."""
    if response.status_code == 404 and response.media_type == "text/html":
        enveloped = error_response(ApiError(404, NOTHING_HERE))
        enveloped.media_type = "application/json"  # the route's own type is HTML
        return enveloped
    return response


def error_response(error: ApiError) -> Response[ErrorEnvelope]:
    body = ErrorBody(code=error.code, message=error.message)
    if error.details:
        body = ErrorBody(code=error.code, message=error.message, details=error.details)
    return Response(ErrorEnvelope(error=body), status_code=error.status_code, headers=error.headers)


def _validation(request: Request[Any, Any, Any], exc: ValidationException) -> ApiError:
    """Litestar's validation errors: a bad query string is a 400, a bad body a 422."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    body_problems = [p for p in problems if isinstance(p, dict) and p.get("source") == "body"]
    if body_problems:
        if any(p.get("message") == "'data'" for p in body_problems):
            return ApiError(400, "The request needs a JSON body.")
        details = [
            ErrorDetail(
                field=None if p.get("key") == "data" else str(p.get("key")),
                message=str(p.get("message")),
            )
            for p in body_problems
        ]
        return ApiError(422, "The request body is not valid.", details=details)
    details = [
        ErrorDetail(field=str(p.get("key")), message=str(p.get("message")))
        for p in problems
        if isinstance(p, dict)
    ]
    return ApiError(400, "The request is not valid.", details=details)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationException):
        return _validation(request, exc)
    status = exc.status_code
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    message = {
        400: "The request is not valid.",
        404: NOTHING_HERE,
        405: f"{request.method} is not allowed here.",
        413: f"A JSON body may be at most 1 MiB ({JSON_BODY_LIMIT:,} bytes).",
    }.get(status) or HTTPStatus(status).phrase + "."
    if status == 400 and exc.detail and "JSON" in exc.detail:
        message = "The request body is not well-formed JSON."
    return ApiError(status, message, headers=headers)


def _domain(exc: Exception) -> ApiError | None:
    match exc:
        case InvalidValue(field=field, message=message):
            return ApiError(
                422,
                f"{field} {message}.",
                details=[ErrorDetail(field=field, message=message)],
            )
        case SizeMismatch():
            return ApiError(
                409, f"The upload is not the declared size: {exc}.", code="size_mismatch"
            )
        case UploadIncomplete():
            return ApiError(409, f"The upload is not complete: {exc}.", code="upload_incomplete")
        case BlobStoreUnavailable():
            logger.warning("blob store unavailable: %s", exc)
            return ApiError(
                503,
                "The blob store cannot be reached right now; nothing was changed. Retry soon.",
                headers={"Retry-After": "5"},
            )
        case DatabaseUnavailable():
            logger.warning("database unavailable: %s", exc)
            return ApiError(
                503,
                "The database cannot be reached right now; nothing was changed. Retry soon.",
                headers={"Retry-After": "2"},
            )
        case InsufficientStorage():
            logger.warning("refused an upload: %s", exc)
            return ApiError(507, "The server's storage is too full to take this upload.")
        case ResourceNotFound():
            return not_found()
        case Unauthenticated():
            return unauthorized()
        case UploadTooLarge(limit=limit):
            return ApiError(413, f"The upload may be at most {limit} bytes.")
        case IdempotencyKeyReused():
            return ApiError(
                422, "This Idempotency-Key was used for a different request; use a new key."
            )
        case ConcurrentUpdate():
            return ApiError(409, "The resource kept changing; retry the request.")
    return None


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorEnvelope]:
    if isinstance(exc, HTTPException):
        error = _http(request, exc)
    else:
        mapped = _domain(exc)
        if mapped is None:
            logger.exception("unhandled error on %s %s", request.method, request.url.path)
            mapped = ApiError(500, "Something went wrong on our side; it has been logged.")
        error = mapped
    return error_response(error)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    Exception: handle,
    HTTPException: handle,
}
