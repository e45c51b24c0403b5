"""The OpenAPI document, the API's exact contract, and its docs page.

Litestar generates the document from the handlers' declarations (operations,
parameters, the error statuses of `api.http.errors.error_responses`). `ExactDocument`
then makes it say exactly what the server does, for what Litestar cannot
declare or declares loosely:

- the component schemas are msgspec's own, from the Structs of `api.http.schemas`
  (the library that checks every request body): integer bounds stay integers,
  unknown fields are refused (`additionalProperties: false`), and the rules the
  domain applies are there as patterns;
- request headers, which the handlers read themselves (`If-Match`,
  `Idempotency-Key`, `X-Request-ID`), and every response's headers;
- the content endpoints' binary bodies, their required signature, and the
  download's redirect;
- query parameters are never null (an optional one is left out), so the null
  branch Litestar adds to an optional parameter is dropped;
- every integer is an `int64` (PostgreSQL's bigint);
- links from a registration to what can be done with the new resource.

The docs page (`/schema/swagger`) shows the same document. It loads Swagger UI
from this server, not from a CDN, so it works on a machine without internet
access: the `swagger-ui-py` package ships swagger-ui's dist files, and
`/schema/swagger-ui/<file>` serves the few the page needs.
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import PathParameter
from litestar.response import File

from api.composition.settings import Settings
from api.composition.version import package_version
from api.http import schemas
from api.http.errors import enveloped_not_found

Json = dict[str, Any]


def reference(kind: str, name: str) -> Json:
    """A reference to one of the document's components."""
    return {"$ref": f"#/components/{kind}/{name}"}


SCHEMA_PATH = "/schema"
ASSETS_PATH = "/swagger-ui"
"""Under SCHEMA_PATH: where the docs page's scripts, stylesheet and icon are served."""

ASSETS_PACKAGE = "swagger_ui"
"""The module of `swagger-ui-py`: swagger-ui's dist files are in its `static/` folder."""

ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}
"""The files the page loads, and nothing else of the package."""


def asset_url(name: str) -> str:
    return f"{SCHEMA_PATH}{ASSETS_PATH}/{name}"


@cache
def assets_directory() -> Path | None:
    """Where the installed package keeps swagger-ui's files (None: not installed).

    Found without importing the package, whose own code (a Jinja2 page renderer
    for other frameworks) the service does not need.
    """
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations))) / "static"
    return directory if directory.is_dir() else None


def swagger_asset(name: Annotated[str, PathParameter(description="The file's name")]) -> File:
    """One of the docs page's files; 404 for any other name."""
    media_type = ASSETS.get(name)
    directory = assets_directory()
    if media_type is None or directory is None:
        raise NotFoundException()
    return File(
        path=directory / name,
        filename=name,
        media_type=media_type,
        content_disposition_type="inline",
    )


class OfflineSwagger(SwaggerRenderPlugin):
    """Swagger UI, showing the exact document, with its files served by this app (the
    route is added to the OpenAPI router, beside the page)."""

    def __init__(self, exact: ExactDocument) -> None:
        self._exact = exact
        super().__init__(
            path="/swagger",
            js_url=asset_url("swagger-ui-bundle.js"),
            css_url=asset_url("swagger-ui.css"),
            standalone_preset_js_url=asset_url("swagger-ui-standalone-preset.js"),
            favicon=f"<link rel='icon' type='image/png' href='{asset_url('favicon-32x32.png')}'>",
        )

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self._exact(openapi_schema))

    def receive_router(self, router: Router) -> None:
        super().receive_router(router)  # the OAuth2 redirect page
        # The router answers a path it does not serve with an HTML page; the service
        # answers every unknown path with its JSON envelope.
        router.after_request = enveloped_not_found
        router.register(
            get(
                f"{ASSETS_PATH}/{{name:str}}",
                include_in_schema=False,
                sync_to_thread=False,
                cache_control=CacheControlHeader(max_age=86400, public=True),
            )(swagger_asset)
        )


class ExactJson(JsonRenderPlugin):
    """`/schema/openapi.json`: the exact document."""

    def __init__(self, exact: ExactDocument) -> None:
        self._exact = exact
        super().__init__(path="/openapi.json")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, self._exact(openapi_schema))


# Headers. Patterns use explicit character classes (see `api.http.schemas`).

HEADER_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0"
r"""White space as `api.http.conditions` reads a header (`\s` and `str.strip()` over Latin-1)."""
ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
IF_MATCH_PATTERN = (
    rf"^[{HEADER_SPACE}]*(?:\*|{ENTITY_TAG}(?:[{HEADER_SPACE}]*,[{HEADER_SPACE}]*{ENTITY_TAG})*"
    rf"(?:[{HEADER_SPACE}]*,)?)[{HEADER_SPACE}]*$"
)
"""`*` or a comma-separated list of entity tags (RFC 9110), as `api.http.conditions` parses it."""
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:/+=-]{1,128}$"
SESSION_TOKEN_PATTERN = r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$"  # noqa: S105


def header_parameter(name: str, description: str, schema: Json) -> Json:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": schema,
    }


REQUEST_HEADERS: dict[str, Json] = {
    "If-Match": header_parameter(
        "If-Match",
        'Change only if the resource is at one of these versions (`"3"`, or a list;'
        " weak tags never match), else 412; `*` matches any existing resource."
        " A malformed value is a 400.",
        {"type": "string", "format": "entity-tags", "pattern": IF_MATCH_PATTERN},
    ),
    "Idempotency-Key": header_parameter(
        "Idempotency-Key",
        "1 to 255 visible ASCII characters. The same key with the same method, path and body"
        " within 24 hours answers the first request's outcome (`Idempotent-Replayed: true`);"
        " with another request, 422. A malformed value is a 400.",
        {"type": "string", "minLength": 1, "maxLength": 255, "pattern": IDEMPOTENCY_KEY_PATTERN},
    ),
    "Session-Token": header_parameter(
        "Session-Token",
        "The Session-Token a write answered: with a read replica configured, the read sees"
        " that write or a later state (from the replica once it has replayed it, else from"
        " the primary). A malformed value is a 400.",
        {"type": "string", "format": "session-token", "pattern": SESSION_TOKEN_PATTERN},
    ),
    "X-Request-ID": header_parameter(
        "X-Request-ID",
        "The request's id, recorded with every event it appends and echoed in the response:"
        " up to 128 of A-Za-z0-9._:/+=-. Any other value is replaced with a new id.",
        {"type": "string"},
    ),
}


def response_header(description: str, schema: Json, *, required: bool = True) -> Json:
    return {"description": description, "required": required, "schema": schema}


VERSION_TAG = response_header(
    "The resource's version, as a strong entity tag", {"type": "string", "pattern": '^"[0-9]+"$'}
)
RESPONSE_HEADERS: dict[str, Json] = {
    "ETag": VERSION_TAG,
    "Location": response_header(
        "The new resource's path", {"type": "string", "pattern": "^/api/resources/[0-9]+$"}
    ),
    "Idempotent-Replayed": response_header(
        "Sent when the response is the kept outcome of an earlier request with the same"
        " Idempotency-Key",
        {"type": "string", "enum": ["true"]},
        required=False,
    ),
    "Session-Token": response_header(
        "With a read replica configured (DATABASE_REPLICA_URL): send it back in a read's"
        " Session-Token to see this write",
        {"type": "string", "pattern": SESSION_TOKEN_PATTERN},
        required=False,
    ),
    "Link": response_header(
        "On a page that skips 10,000 events or more: the event feed from this page's oldest"
        ' event on, oldest first, by cursor (`rel="related"`), which costs the same at any'
        " depth",
        {"type": "string", "pattern": '^</api/events\\?after=[0-9]+[^>]*>; rel="related"$'},
        required=False,
    ),
}
"""Success headers of the resources' own endpoints."""
REQUEST_ID_HEADER = response_header(
    "The request's id (the client's X-Request-ID if it is one of up to 128 of"
    " A-Za-z0-9._:/+=-, else a new one)",
    {"type": "string", "pattern": REQUEST_ID_PATTERN},
)
ERROR_HEADERS: dict[str, dict[str, Json]] = {
    "401": {
        "WWW-Authenticate": response_header(
            "The scheme to authenticate with", {"type": "string", "enum": ["Bearer"]}
        )
    },
    "412": {"ETag": reference("headers", "ETag")},
    "503": {
        "Retry-After": response_header(
            "Seconds to wait: 2 for the database, 5 for the blob store (absent from the HTTP"
            " server's own answer to too many connections)",
            {"type": "integer", "minimum": 0},
            required=False,
        )
    },
}
UNAVAILABLE_TEXT = {"text/plain": {"schema": {"type": "string"}}}
"""503 from the HTTP server itself (LIMIT_CONCURRENCY): plain text, no request id."""

# The content endpoints.

SIGNED_QUERY = ("expires", "signature")
"""Required: a content URL without them is not signed (the server answers 403, not 400)."""
BINARY = {"schema": {"type": "string", "format": "binary"}}
UPLOAD_BODY: Json = {
    "description": "The file's bytes, streamed; at most the declared size_bytes and"
    " MAX_UPLOAD_BYTES. Any Content-Type.",
    "required": False,
    "content": {"application/octet-stream": BINARY},
}
DOWNLOAD: dict[str, Json] = {
    "200": {
        "description": "Exactly the confirmed bytes, streamed, as the resource's mime_type",
        "headers": {
            "Content-Length": response_header("The size", {"type": "integer", "minimum": 0}),
            "Content-Disposition": response_header(
                "`attachment` with the resource's name: in ASCII (other characters, quotes,"
                " backslashes and % as _), then exactly, percent-encoded",
                {
                    "type": "string",
                    "pattern": '^attachment; filename="[ -!#-$&-\\[\\]-~]*";'
                    " filename\\*=UTF-8''[A-Za-z0-9%._~-]+$",
                },
            ),
            "ETag": response_header(
                "The bytes' digest",
                {"type": "string", "pattern": '^"(?:sha256:[0-9a-f]{64}|etag:[^"]*)"$'},
                required=False,
            ),
        },
        "content": {
            "application/octet-stream": BINARY,
            "*/*": {"schema": {"description": "The bytes, in the resource's mime_type"}},
        },
    },
    "307": {
        "description": "With an S3-compatible blob store: the bucket's presigned URL",
        "headers": {"Location": response_header("The bucket's presigned URL", {"type": "string"})},
    },
}

# The event feed: its pages or its NDJSON export on one path; the stream.

FEED: dict[str, Json] = {
    "200": {
        "description": "A page of events after the cursor, oldest first; or, with `Accept:"
        " application/x-ndjson`, every event after `after` up to the newest at the request's"
        " start (at most `limit` if given), one JSON object a line, streamed",
        "content": {
            "application/json": {"schema": reference("schemas", "FeedEnvelope")},
            "application/x-ndjson": {
                "schema": {
                    "type": "array",
                    "items": reference("schemas", "FeedEvent"),
                    "description": "NDJSON: each line is one of these events, no envelope",
                },
            },
        },
    }
}
STREAM: dict[str, Json] = {
    "200": {
        "description": "Server-Sent Events: `retry:` first, then `id: <position>`, `event:"
        " <type>`, `data: <the event as in the feed>` for every event after the cursor, and"
        " `: keep-alive` every STREAM_HEARTBEAT seconds of quiet. It goes on until the client"
        " leaves, the client falls STREAM_BUFFER events behind, or the server stops: resume"
        " with `Last-Event-ID`.",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string"},
                "example": 'retry: 2000\n\nid: 42\nevent: Renamed\ndata: {"position": 42}\n\n',
            }
        },
    }
}

# Links: from a registration to what can be done with the resource it made; from an
# upload to its confirmation; from a change to what can be done next.

NEW_RESOURCE_ID = "$response.body#/data/resource/id"
RESOURCE_LINKS: Json = {
    name: {"operationId": operation, "parameters": {"resource_id": NEW_RESOURCE_ID}}
    for name, operation in (
        ("GetResource", "getResource"),
        ("ResourceHistory", "resourceHistory"),
        ("UploadContent", "uploadContent"),
        ("DownloadContent", "downloadContent"),
    )
} | {
    name: {
        "operationId": operation,
        "parameters": {"resource_id": NEW_RESOURCE_ID, "header.If-Match": "$response.header.ETag"},
    }
    for name, operation in (
        ("UpdateResource", "updateResource"),
        ("DeleteResource", "deleteResource"),
    )
}
CONFIRM_UPLOAD_LINKS: Json = {
    "ConfirmUpload": {
        "operationId": "updateResource",
        "parameters": {"resource_id": "$request.path.resource_id"},
        "requestBody": {"status": "uploaded"},
    }
}
CHANGED_RESOURCE_LINKS: Json = {
    name: link
    for name, link in RESOURCE_LINKS.items()
    if name in ("GetResource", "ResourceHistory", "DownloadContent", "DeleteResource")
}


@dataclass(frozen=True)
class Operation:
    """What the document says of one operation beyond Litestar's declaration."""

    request_headers: tuple[str, ...] = ()
    response_headers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    required_query: tuple[str, ...] = ()
    request_body: Json | None = None
    responses: Mapping[str, Json] = field(default_factory=dict)
    links: Mapping[str, Json] = field(default_factory=dict)


READ = ("Session-Token",)
"""The reads a replica may serve (api.http.consistency.REPLICA_READS) take a write's token."""

OPERATIONS = {
    "createResource": Operation(
        request_headers=("Idempotency-Key",),
        response_headers={"201": ("Location", "ETag", "Idempotent-Replayed", "Session-Token")},
        links={"201": RESOURCE_LINKS},
    ),
    "listResources": Operation(request_headers=READ),
    "getResource": Operation(request_headers=READ, response_headers={"200": ("ETag",)}),
    "resourceHistory": Operation(request_headers=READ),
    "updateResource": Operation(
        request_headers=("If-Match", "Idempotency-Key"),
        response_headers={"200": ("ETag", "Idempotent-Replayed", "Session-Token")},
        links={"200": CHANGED_RESOURCE_LINKS},
    ),
    "deleteResource": Operation(
        request_headers=("If-Match",), response_headers={"204": ("Session-Token",)}
    ),
    "uploadContent": Operation(
        required_query=SIGNED_QUERY,
        request_body=UPLOAD_BODY,
        response_headers={"204": ("Session-Token",)},
        links={"204": CONFIRM_UPLOAD_LINKS},
    ),
    "downloadContent": Operation(required_query=SIGNED_QUERY, responses=DOWNLOAD),
    "projectActivity": Operation(request_headers=READ, response_headers={"200": ("Link",)}),
    "eventFeed": Operation(request_headers=READ, responses=FEED),
    "eventStream": Operation(request_headers=READ, responses=STREAM),
}


class ExactDocument:
    """The document Litestar generates, made exact (see the module's docstring).

    Computed once per generated document, which Litestar keeps for the app's life.
    """

    def __init__(self, max_upload_bytes: int | None = None) -> None:
        self._max_upload_bytes = max_upload_bytes
        self._done: tuple[dict[str, Any], Json] | None = None

    def __call__(self, generated: dict[str, Any]) -> Json:
        if self._done is None or self._done[0] is not generated:
            self._done = (generated, self._exact(generated))
        return self._done[1]

    def _exact(self, generated: dict[str, Any]) -> Json:
        document: Json = copy.deepcopy(generated)
        components = document.setdefault("components", {})
        components["schemas"] = self._component_schemas(components.get("schemas", {}))
        components["parameters"] = REQUEST_HEADERS
        components["headers"] = {**RESPONSE_HEADERS, "X-Request-ID": REQUEST_ID_HEADER}
        for item in document["paths"].values():
            for operation in item.values():
                self._operation(operation)
        document = copy.deepcopy(document)  # shares nothing with this module's declarations
        with_int64(document)
        return document

    def _component_schemas(self, generated: Json) -> Json:
        """msgspec's schemas of the Structs of `api.http.schemas` the document names."""
        structs = [
            found
            for name in generated
            if isinstance(found := getattr(schemas, name, None), type)
            and issubclass(found, msgspec.Struct)
        ]
        _, exact = msgspec.json.schema_components(
            structs, ref_template="#/components/schemas/{name}"
        )
        if self._max_upload_bytes is not None:
            size = exact["CreateResourceBody"]["properties"]["size_bytes"]
            size["anyOf"][0]["maximum"] = self._max_upload_bytes
            size["description"] = (
                f"The size the upload must have: at most {self._max_upload_bytes} bytes"
                " (MAX_UPLOAD_BYTES)"
            )
        return {**generated, **exact}

    def _operation(self, operation: Json) -> None:
        declared = OPERATIONS.get(operation["operationId"], Operation())
        parameters = [without_null(parameter) for parameter in operation.get("parameters", [])]
        for parameter in parameters:
            if parameter["in"] == "query" and parameter["name"] in declared.required_query:
                parameter["required"] = True
        operation["parameters"] = parameters + [
            reference("parameters", name) for name in (*declared.request_headers, "X-Request-ID")
        ]
        if declared.request_body is not None:
            operation["requestBody"] = declared.request_body
        responses: Json = operation["responses"]
        for status in [status for status, found in responses.items() if not_ours(status, found)]:
            del responses[status]  # Litestar's own 400: every error is sent in the envelope
        responses.update(copy.deepcopy(dict(declared.responses)))
        for status, response in responses.items():
            headers = response.setdefault("headers", {})
            headers.update(ERROR_HEADERS.get(status, {}))
            for name in declared.response_headers.get(status, ()):
                headers[name] = reference("headers", name)
            if status == "503":  # also the HTTP server's own answer, without a request id
                headers["X-Request-ID"] = {**REQUEST_ID_HEADER, "required": False}
                response.setdefault("content", {}).update(UNAVAILABLE_TEXT)
            else:
                headers["X-Request-ID"] = reference("headers", "X-Request-ID")
            if status in declared.links:
                response["links"] = declared.links[status]
        operation["responses"] = dict(sorted(responses.items()))


def not_ours(status: str, response: Json) -> bool:
    """An error response that is not in one of `api.http.schemas`' shapes."""
    if not status.startswith(("4", "5")):
        return False
    content = response.get("content", {}).get("application/json", {})
    return "$ref" not in content.get("schema", {})


def without_null(parameter: Json) -> Json:
    """A parameter whose schema has no null branch: on the wire a parameter is there or
    not, never null. A union left with one branch becomes that branch, under the
    keywords the declaration gave it (`schema_extra`)."""
    schema: Json = parameter.get("schema", {})
    for keyword in ("oneOf", "anyOf"):
        if keyword in schema:
            branches = [branch for branch in schema[keyword] if branch != {"type": "null"}]
            if len(branches) == 1:
                del schema[keyword]
                schema = {**branches[0], **schema}
            else:
                schema[keyword] = branches
    return {**parameter, "schema": schema}


def with_int64(node: Any) -> None:
    """Every integer is a PostgreSQL bigint: `format: int64` where none is given."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("format", "int64")
        for value in node.values():
            with_int64(value)
    elif isinstance(node, list):
        for value in node:
            with_int64(value)


def openapi_config(settings: Settings | None = None) -> OpenAPIConfig:
    """The document and its page; with the settings, the document also states the
    deployment's upload limit (MAX_UPLOAD_BYTES) as the largest size_bytes."""
    exact = ExactDocument(settings.max_upload_bytes if settings is not None else None)
    return OpenAPIConfig(
        title="Resource service",
        version=package_version(),
        description="Register, upload, confirm, rename, describe, list, download "
        "and delete project resources. Every change is an event.",
        path=SCHEMA_PATH,
        render_plugins=[ExactJson(exact), OfflineSwagger(exact)],
        components=Components(
            security_schemes={
                "BearerAuth": SecurityScheme(
                    type="http", scheme="bearer", description="A project API key (rsk_...)"
                )
            }
        ),
    )
