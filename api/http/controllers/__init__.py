"""One controller per resource of the HTTP API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from litestar import Controller, HttpMethod, Request, Response, route
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import Link, OpenAPIMediaType, OpenAPIResponse, Operation, RequestBody
from litestar.openapi.spec.responses import Responses
from litestar.routes import HTTPRoute


def allow(*paths: str) -> HTTPRouteHandler:
    """OPTIONS for a controller's paths that take several methods: 204 with `Allow`
    naming every method routed to the path.

    Litestar 2 makes its own OPTIONS handler for a path when the path's first handler
    is registered, and that handler keeps naming the first handler's methods only:
    `OPTIONS /api/resources` answered `Allow: OPTIONS, POST`, without GET
    (litestar-org/litestar#4169, fixed in Litestar 3). A path with an OPTIONS handler
    of its own gets none from Litestar.
    """

    def options(self: Controller, request: Request[Any, Any, Any]) -> Response[None]:
        template = request.scope["path_template"]
        methods = next(
            found.methods
            for found in request.app.routes
            if isinstance(found, HTTPRoute) and found.path_format == template
        )
        return Response(None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})

    return route(
        list(paths),
        http_method=[HttpMethod.OPTIONS],
        include_in_schema=False,
        status_code=204,
        sync_to_thread=False,
    )(options)


def documented(
    *,
    links: Mapping[int, Mapping[str, Link]] | None = None,
    content: Mapping[int, Mapping[str, OpenAPIMediaType]] | None = None,
    responses: Mapping[int, OpenAPIResponse] | None = None,
    request_body: RequestBody | None = None,
) -> type[Operation]:
    """A handler's `operation_class`, for what its other declarations cannot say: the
    links from an answer, an answer's media types (several, or the body a handler
    streams itself), a response beside the success with headers of its own (a
    redirect), and a request body the handler reads as a stream."""

    @dataclass  # an __init__ that calls __post_init__ (Operation has none to call)
    class Documented(Operation):
        def __post_init__(self) -> None:
            answers: Responses = {**(self.responses or {})}
            answers.update({str(status): answer for status, answer in (responses or {}).items()})
            for status, found in (links or {}).items():
                _answer(answers, status).links = dict(found)
            for status, media_types in (content or {}).items():
                _answer(answers, status).content = dict(media_types)
            self.responses = answers
            self.request_body = request_body or self.request_body

    return Documented


def _answer(responses: Responses, status: int) -> OpenAPIResponse:
    found = responses[str(status)]
    assert isinstance(found, OpenAPIResponse), found
    return found
