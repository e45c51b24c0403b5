"""One controller per resource of the HTTP API."""

from __future__ import annotations

from typing import Any

from litestar import Controller, HttpMethod, Request, Response, route
from litestar.handlers import HTTPRouteHandler
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
