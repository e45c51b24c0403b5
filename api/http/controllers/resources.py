"""`/api/resources`: register, read, list, change and delete resources."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.openapi.spec import Link
from litestar.params import JSONBody, QueryParameter
from msgspec import UNSET

from api.http.auth import caller
from api.http.conditions import AnyVersion, IfMatch, parse_if_match
from api.http.controllers import allow, documented
from api.http.errors import ApiError, error_responses
from api.http.idempotency import REPLAYED_HEADER, IdempotencyKeyHeader, idempotency_key
from api.http.parameters import (
    DATE_TIME,
    MAX_ID,
    SESSION_TOKEN_ANSWERED,
    WHOLE_NUMBERS,
    Page,
    PerPage,
    ResourceId,
    SessionToken,
    WholeNumber,
    existing_id,
    id_or_none,
    parse_rfc3339,
    whole_numbers,
)
from api.http.representation import etag, outcome_response, resource_out, resource_response
from api.http.schemas import (
    VERSION_TAG,
    CreateResourceBody,
    Header,
    Pagination,
    ResourceEnvelope,
    ResourceListEnvelope,
    ResourcesData,
    UpdateResourceBody,
)
from api.http.wiring import history_of, resources_of, services_of
from api.observability.raw_headers import header
from application.commands import DeleteResource, RegisterResource, UpdateResource
from application.errors import VersionMismatch
from domain.resource import Resource
from projections.resources import record_of

JSON_BODY = "json_body"
"""Handler option: the Struct a JSON body must strictly fit (see `api.http.app.admit`)."""


def require_json(request: Request[Any, Any, Any]) -> None:
    """A body that says it is something other than JSON is refused with 415."""
    raw = header(request.scope, b"content-type")
    if raw is None:
        return
    media_type = raw.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ApiError(415, "Send the body as application/json.")


def expected_versions(if_match: str | None) -> frozenset[int] | None:
    condition = parse_if_match(if_match)
    return None if isinstance(condition, AnyVersion) else condition


@contextmanager
def version_preconditions() -> Iterator[None]:
    """A failed If-Match is a 412 that names the current version."""
    try:
        yield
    except VersionMismatch as mismatch:
        raise ApiError(
            412,
            f"The resource has changed: it is at version {mismatch.current_version}.",
            headers={"ETag": etag(mismatch.current_version)},
        ) from None


def register_command(
    request: Request[Any, Any, Any], data: CreateResourceBody, idempotency: str | None
) -> RegisterResource:
    """POST's command: the body's fields, and the Idempotency-Key with its fingerprint."""
    return RegisterResource(
        **msgspec.structs.asdict(data), idempotency=idempotency_key(request, idempotency, data)
    )


def update_command(
    request: Request[Any, Any, Any],
    resource_id: int,
    data: UpdateResourceBody,
    if_match: str | None,
    idempotency: str | None,
) -> UpdateResource:
    """PATCH's command: the fields given (`status` only confirms the upload), the
    versions If-Match allows, and the Idempotency-Key with its fingerprint."""
    changes = msgspec.structs.asdict(data)
    confirm_upload = changes.pop("status") is not UNSET
    return UpdateResource(
        **changes,
        resource_id=id_or_none(resource_id),
        expected_versions=expected_versions(if_match),
        confirm_upload=confirm_upload,
        idempotency=idempotency_key(request, idempotency, data),
    )


def delete_command(resource_id: int, if_match: str | None) -> DeleteResource:
    """DELETE's command: the resource, and the versions If-Match allows."""
    return DeleteResource(
        resource_id=id_or_none(resource_id), expected_versions=expected_versions(if_match)
    )


LOCATION = Header(
    "Location",
    description="The new resource's path",
    required=True,
    schema={"type": "string", "pattern": "^/api/resources/[0-9]+$"},
)
NEW_RESOURCE_ID = "$response.body#/data/resource/id"


def _link(operation_id: str, *, if_match: bool = False) -> Link:
    """A link to an operation on the resource an answer carries (at its version)."""
    parameters = {"resource_id": NEW_RESOURCE_ID}
    if if_match:
        parameters["header.If-Match"] = "$response.header.ETag"
    return Link(operation_id=operation_id, parameters=parameters)


RESOURCE_LINKS = {
    "GetResource": _link("getResource"),
    "ResourceHistory": _link("resourceHistory"),
    "UploadContent": _link("uploadContent"),
    "DownloadContent": _link("downloadContent"),
    "UpdateResource": _link("updateResource", if_match=True),
    "DeleteResource": _link("deleteResource", if_match=True),
}
"""From a registration to what can be done with the new resource."""
CHANGED_RESOURCE_LINKS = {
    name: RESOURCE_LINKS[name]
    for name in ("GetResource", "ResourceHistory", "DownloadContent", "DeleteResource")
}
"""From a change to what can be done next."""


class ResourceController(Controller):
    path = "/api/resources"
    tags = ["resources"]  # noqa: RUF012 - Litestar reads it as a class attribute
    security = [{"BearerAuth": []}]  # noqa: RUF012

    options = allow("/", "/{resource_id:str}")

    @post(
        "/",
        operation_id="createResource",
        summary="Register a file to upload, or a link",
        opt={JSON_BODY: CreateResourceBody},
        status_code=201,
        response_headers=[LOCATION, VERSION_TAG, REPLAYED_HEADER, SESSION_TOKEN_ANSWERED],
        operation_class=documented(links={201: RESOURCE_LINKS}),
        responses=error_responses(
            400,
            401,
            (409, "The key was revoked, or the Idempotency-Key's outcome expired, meanwhile"),
            413,
            415,
            (
                422,
                "A body that breaks a rule (also: size_bytes above MAX_UPLOAD_BYTES, another"
                " project_id), or an Idempotency-Key used for another request",
            ),
            503,
        ),
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CreateResourceBody],
        idempotency: IdempotencyKeyHeader = None,
    ) -> Response[ResourceEnvelope]:
        services, resources = services_of(request), resources_of(request)
        command = register_command(request, data, idempotency)
        outcome = await resources.register(caller(request), command)
        return outcome_response(outcome, services.links)

    @get(
        "/",
        operation_id="listResources",
        summary="The project's resources, newest first",
        responses=error_responses(400, 401, 503),
    )
    async def list_resources(
        self,
        request: Request[Any, Any, Any],
        page: Page = 1,
        per_page: PerPage = 20,
        status: Annotated[
            Literal["uploaded", "pending", "all"], QueryParameter(description="Which resources")
        ] = "uploaded",
        session_token: SessionToken = None,  # for api.http.consistency: a replica read
    ) -> ResourceListEnvelope:
        services = services_of(request)
        found = await resources_of(request).page(caller(request), status, page, per_page)
        return ResourceListEnvelope(
            data=ResourcesData(
                resources=[resource_out(record, services.links) for record in found.resources]
            ),
            pagination=Pagination(
                page=page,
                per_page=per_page,
                total=found.total,
                total_pages=math.ceil(found.total / per_page),
            ),
        )

    @get(
        "/{resource_id:str}",
        operation_id="getResource",
        summary="One resource, now or as it was at a version or time",
        type_decoders=WHOLE_NUMBERS,
        response_headers=[VERSION_TAG],
        responses=error_responses(
            (400, "A malformed version or as_of, or both given"),
            401,
            (404, "No such resource, or not at that version or time"),
            503,
        ),
    )
    async def get_resource(
        self,
        request: Request[Any, Any, Any],
        resource_id: ResourceId,
        version: Annotated[
            WholeNumber | None,
            QueryParameter(
                description="The resource as it was after its N-th event (not with as_of)",
                schema_extra=whole_numbers(1, MAX_ID),
            ),
        ] = None,
        as_of: Annotated[
            str | None,
            QueryParameter(
                description="The resource as it was at this RFC 3339 time (not with version)",
                schema_extra=DATE_TIME,
            ),
        ] = None,
        session_token: SessionToken = None,  # for api.http.consistency: a replica read
    ) -> Response[ResourceEnvelope]:
        services, resources = services_of(request), resources_of(request)
        if version is None and as_of is None:
            _, record = await resources.get(caller(request), id_or_none(resource_id))
            return resource_response(record, services.links)
        past = await _in_the_past(request, resource_id, version, as_of)
        return resource_response(record_of(past), services.links, offer_upload=False)

    @patch(
        "/{resource_id:str}",
        operation_id="updateResource",
        summary="Rename, describe, or confirm the upload; returns the state after it",
        opt={JSON_BODY: UpdateResourceBody},
        response_headers=[VERSION_TAG, REPLAYED_HEADER, SESSION_TOKEN_ANSWERED],
        operation_class=documented(links={200: CHANGED_RESOURCE_LINKS}),
        responses=error_responses(
            (400, "A malformed If-Match or Idempotency-Key, or a body that is not JSON"),
            401,
            (404, "No such resource, or it has been deleted"),
            (
                409,
                "upload_incomplete: nothing was uploaded to confirm; size_mismatch: the upload"
                " is not the declared size; conflict: the resource kept changing (retry)",
            ),
            412,
            (413, "A JSON body over 1 MiB, or confirming an upload over MAX_UPLOAD_BYTES"),
            415,
            (422, "A body that breaks a rule, or an Idempotency-Key used for another request"),
            (503, "The database or the blob store (while confirming) cannot be reached"),
        ),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        resource_id: ResourceId,
        data: JSONBody[UpdateResourceBody],
        if_match: IfMatch = None,
        idempotency: IdempotencyKeyHeader = None,
    ) -> Response[ResourceEnvelope]:
        services = services_of(request)
        command = update_command(request, resource_id, data, if_match, idempotency)
        with version_preconditions():
            outcome = await resources_of(request).update(caller(request), command)
        return outcome_response(outcome, services.links)

    @delete(
        "/{resource_id:str}",
        operation_id="deleteResource",
        summary="Delete the resource and its bytes; its history stays",
        response_headers=[SESSION_TOKEN_ANSWERED],
        responses=error_responses(
            (400, "A malformed If-Match"),
            401,
            (404, "No such resource, or it has already been deleted"),
            409,
            412,
            (503, "The database cannot be reached (the blob store's bytes may wait for gc)"),
        ),
    )
    async def delete_resource(
        self,
        request: Request[Any, Any, Any],
        resource_id: ResourceId,
        if_match: IfMatch = None,
    ) -> None:
        command = delete_command(resource_id, if_match)
        with version_preconditions():
            await resources_of(request).delete(caller(request), command)


async def _in_the_past(
    request: Request[Any, Any, Any], resource_id: int, version: int | None, as_of: str | None
) -> Resource:
    """GET with ?version or ?as_of: the resource rebuilt from its events.

    The answers come in the order of a lookup of the key first: 401, then 404 for an id
    out of range, then 400 for the parameters, then the resource's own 404."""
    who = caller(request)
    try:
        if version is not None and as_of is not None:
            raise ApiError(400, "Ask for either version or as_of, not both.")
        moment = None if as_of is None else parse_rfc3339(as_of, "as_of")
    except ApiError:
        await resources_of(request).authenticate(who)
        existing_id(resource_id)
        raise
    history, past_id = history_of(request), id_or_none(resource_id)
    if moment is not None:
        return await history.as_of(who, past_id, moment)
    assert version is not None
    return await history.at_version(who, past_id, version)
