"""The OpenAPI document, the API's exact contract, and its docs page.

Litestar generates the document from the handlers' declarations: their parameters
(headers too), `response_headers`, error bodies (`api.http.errors.error_responses`)
and operation classes (`api.http.controllers.documented`). `Exact` adds only what
Litestar cannot declare:

- msgspec's component schemas, as it checks the bodies (`api.http.schemas`);
- X-Request-ID, which every operation takes and every answer carries (as a handler's
  parameter it would be parsed on every request), and each error status's headers
  (`api.http.errors.ERROR_HEADERS`: a `ResponseSpec` has none);
- a parameter has no null branch (on the wire it is there or not), and every integer
  is an `int64` (PostgreSQL's bigint).
The docs page (`/schema/swagger`) shows the same document, and loads Swagger UI from
this server (`api.http.controllers.docs`), not a CDN: it works without internet access.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from litestar import Request, Router
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from api.composition.settings import Settings
from api.composition.version import package_version
from api.http.controllers.docs import ASSETS, ASSETS_PATH, assets_handler
from api.http.errors import ERROR_HEADERS, enveloped_not_found
from api.http.parameters import REQUEST_ID, REQUEST_ID_PARAMETER
from api.http.schemas import component_schemas

Json = dict[str, Any]
REQUEST_ID_PATH = "#/components/parameters/X-Request-ID"
SCHEMA_PATH = "/schema"
URL = {name: f"{SCHEMA_PATH}{ASSETS_PATH}/{name}" for name in ASSETS}


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI, showing the exact document, with its files served beside the page."""

    def __init__(self, exact: Exact) -> None:
        self.exact = exact
        super().__init__(
            path="/swagger",
            js_url=URL["swagger-ui-bundle.js"],
            css_url=URL["swagger-ui.css"],
            standalone_preset_js_url=URL["swagger-ui-standalone-preset.js"],
            favicon=f"<link rel='icon' type='image/png' href='{URL['favicon-32x32.png']}'>",
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: Json) -> bytes:
        return super().render(request, self.exact(openapi_schema))

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)  # the OAuth2 redirect page
        router.after_request = enveloped_not_found  # not the router's HTML 404 page
        router.register(assets_handler())


class ExactJson(JsonRenderPlugin):
    """`/schema/openapi.json`: the exact document."""

    def __init__(self, exact: Exact) -> None:
        self.exact = exact
        super().__init__(path="/openapi.json")

    def render(self, request: Request[Any, Any, Any], openapi_schema: Json) -> bytes:
        return super().render(request, self.exact(openapi_schema))


class Exact:
    """The generated document, completed; once per document (Litestar keeps it)."""

    def __init__(self, max_upload_bytes: int | None = None) -> None:
        self._max_upload_bytes = max_upload_bytes
        self._done: tuple[Json, Json] | None = None

    def __call__(self, generated: Json) -> Json:
        if self._done is None or self._done[0] is not generated:
            self._done = (generated, self._exact(copy.deepcopy(generated)))
        return self._done[1]

    def _exact(self, document: Json) -> Json:
        components = document["components"]
        components["schemas"] |= component_schemas(components["schemas"], self._max_upload_bytes)
        components["parameters"] = {"X-Request-ID": REQUEST_ID_PARAMETER.to_schema()}
        components["headers"] = {"X-Request-ID": REQUEST_ID.openapi()}
        for operation in (found for item in document["paths"].values() for found in item.values()):
            parameters = [without_null(found) for found in operation.get("parameters", [])]
            operation["parameters"] = [*parameters, {"$ref": REQUEST_ID_PATH}]
            answers = operation["responses"]
            operation["responses"] = {
                status: with_headers(status, answers[status])
                for status in sorted(answers)
                if status < "400" or enveloped(answers[status])
            }
        return json.loads(json.dumps(document), object_hook=with_int64)  # type: ignore[no-any-return]


def enveloped(error: Json) -> bool:
    """In one of `api.http.schemas`' shapes: Litestar's own 400 is not (nor served)."""
    return "$ref" in error.get("content", {}).get("application/json", {}).get("schema", {})


def with_headers(status: str, response: Json) -> Json:
    """The answer's headers in order, and those every answer of its status carries."""
    headers = response["headers"] = dict(sorted(response.get("headers", {}).items()))
    headers |= {header.name: header.openapi() for header in ERROR_HEADERS.get(int(status), ())}
    headers["X-Request-ID"] = {"$ref": "#/components/headers/X-Request-ID"}
    if status == "503":  # also the HTTP server's own answer to too many connections
        headers["X-Request-ID"] = {**REQUEST_ID.openapi(), "required": False}
        response.setdefault("content", {})["text/plain"] = {"schema": {"type": "string"}}
    return response


def without_null(parameter: Json) -> Json:
    """A parameter whose schema has no null branch; a union left with one branch becomes
    that branch, under the keywords the declaration gave it (`schema_extra`)."""
    schema: Json = parameter.get("schema", {})
    branches = [branch for branch in schema.pop("oneOf", []) if branch != {"type": "null"}]
    if len(branches) > 1:
        schema["oneOf"] = branches
    return {**parameter, "schema": {**branches[0], **schema} if len(branches) == 1 else schema}


def with_int64(node: Json) -> Json:
    """An integer without a format is an `int64` (a bigint): a hook of `json.loads`."""
    if node.get("type") == "integer":
        return {**node, "format": node.get("format", "int64")}
    return node


def openapi_config(settings: Settings | None = None) -> OpenAPIConfig:
    """The document and its page; with the settings, the document also states the
    deployment's upload limit (MAX_UPLOAD_BYTES) as the largest size_bytes."""
    exact = Exact(settings.max_upload_bytes if settings is not None else None)
    bearer = SecurityScheme(type="http", scheme="bearer", description="A project API key (rsk_...)")
    return OpenAPIConfig(
        title="Resource service",
        version=package_version(),
        description="Register, upload, confirm, rename, describe, list, download "
        "and delete project resources. Every change is an event.",
        path=SCHEMA_PATH,
        render_plugins=[ExactJson(exact), OfflineSwagger(exact)],
        components=Components(security_schemes={"BearerAuth": bearer}),
    )
