"""`/api/resources/{id}/content`: the bytes, behind signed URLs rather than keys."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, get, put
from litestar.openapi.spec import (
    Link,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    RequestBody,
    Schema,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.params import QueryParameter
from litestar.response import Redirect, Stream

from api.composition.signing import EXPIRY_DIGITS, SignatureRejected, content_disposition
from api.http.controllers import allow, documented
from api.http.errors import ApiError, error_responses
from api.http.parameters import (
    SESSION_TOKEN_ANSWERED,
    ResourceId,
    existing_id,
    well_formed,
    whole_numbers,
)
from api.http.schemas import Header
from api.http.wiring import resources_of, services_of
from application.errors import UploadElsewhere, UploadInProgress
from domain.errors import AlreadyUploaded, LinkHasNoUpload, ResourceDeleted

if TYPE_CHECKING:
    from api.composition.services import Services

# Read as text and checked by the signer (`api.composition.signing`): a URL without them, or with
# values of another shape, is refused with 403 like any URL that is not signed (so they are
# required in the document, not by Litestar).
Expires = Annotated[
    str | None,
    QueryParameter(
        required=True,
        description="Expiry, in seconds since the epoch, as signed",
        schema_extra=whole_numbers(0, 10**EXPIRY_DIGITS - 1),
    ),
]
Signature = Annotated[
    str | None,
    QueryParameter(
        required=True,
        description="HMAC-SHA256 of method, id and expiry, in lower-case hex",
        schema_extra={"type": "string", "pattern": "^[0-9a-f]{64}$"},
    ),
]


BINARY = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING, format=OpenAPIFormat.BINARY))
UPLOAD = RequestBody(
    description="The file's bytes, streamed; at most the declared size_bytes and"
    " MAX_UPLOAD_BYTES. Any Content-Type.",
    required=False,
    content={"application/octet-stream": BINARY},
)
CONFIRM_UPLOAD = Link(
    operation_id="updateResource",
    parameters={"resource_id": "$request.path.resource_id"},
    request_body={"status": "uploaded"},
)
DOWNLOAD_HEADERS = [
    Header(
        "Content-Length",
        description="The size",
        required=True,
        schema={"type": "integer", "minimum": 0},
    ),
    Header(
        "Content-Disposition",
        description="`attachment` with the resource's name: in ASCII (other characters, quotes,"
        " backslashes and % as _), then exactly, percent-encoded",
        required=True,
        schema={
            "type": "string",
            "pattern": '^attachment; filename="[ -!#-$&-\\[\\]-~]*";'
            " filename\\*=UTF-8''[A-Za-z0-9%._~-]+$",
        },
    ),
    Header(
        "ETag",
        description="The bytes' digest",
        schema={"type": "string", "pattern": '^"(?:sha256:[0-9a-f]{64}|etag:[^"]*)"$'},
    ),
]
DOWNLOADED = {
    "application/octet-stream": BINARY,
    "*/*": OpenAPIMediaType(schema=Schema(description="The bytes, in the resource's mime_type")),
}
REDIRECTED = OpenAPIResponse(
    description="With an S3-compatible blob store: the bucket's presigned URL",
    headers={
        "Location": OpenAPIHeader(
            description="The bucket's presigned URL",
            required=True,
            schema=Schema(type=OpenAPIType.STRING),
        )
    },
)


class _Stalled(Exception):
    """The client sent nothing for longer than UPLOAD_IDLE_TIMEOUT."""


async def _until_idle(chunks: AsyncIterator[bytes], seconds: float) -> AsyncIterator[bytes]:
    """The chunks of a body, ending in _Stalled when the next is more than `seconds` away."""
    iterator = aiter(chunks)
    while True:
        try:
            chunk = await asyncio.wait_for(anext(iterator), seconds)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise _Stalled from None
        yield chunk


def _verify(
    services: Services, method: str, resource_id: int, expires: str | None, signature: str | None
) -> None:
    try:
        services.signer.verify(method, resource_id, expires, signature)
    except SignatureRejected as rejected:
        raise ApiError(403, f"The signed URL is not valid: {rejected}.") from None


class ContentController(Controller):
    path = "/api/resources/{resource_id:str}/content"
    tags = ["content"]  # noqa: RUF012 - Litestar reads it as a class attribute

    options = allow("/")

    @put(
        "/",
        operation_id="uploadContent",
        summary="Stream the file's bytes (the signed upload_url)",
        status_code=204,
        request_max_body_size=None,
        response_headers=[SESSION_TOKEN_ANSWERED],
        operation_class=documented(
            links={204: {"ConfirmUpload": CONFIRM_UPLOAD}}, request_body=UPLOAD
        ),
        responses=error_responses(
            403,
            404,
            408,
            (
                409,
                "The resource takes no upload (deleted, a link, or already confirmed), another"
                " upload of it is streaming, or uploads go straight to the bucket",
            ),
            (413, "More bytes than the declared size_bytes, or than MAX_UPLOAD_BYTES"),
            (503, "The database or the blob store cannot be reached: nothing is kept"),
            507,
        ),
    )
    async def upload(
        self,
        request: Request[Any, Any, Any],
        resource_id: ResourceId,
        expires: Expires = None,
        signature: Signature = None,
    ) -> None:
        services, resources = services_of(request), resources_of(request)
        _verify(services, "PUT", well_formed(resource_id), expires, signature)
        declared = request.headers.get("content-length", "")
        try:
            await resources.upload(
                existing_id(resource_id),
                _until_idle(request.stream(), services.settings.upload_idle_timeout),
                int(declared) if declared.isascii() and declared.isdigit() else None,
            )
        except _Stalled:
            raise ApiError(
                408,
                "The upload sent nothing for too long; its bytes were discarded. Send it again.",
                code="request_timeout",
                headers={"Connection": "close"},
            ) from None
        except (ResourceDeleted, AlreadyUploaded, LinkHasNoUpload) as refused:
            raise ApiError(409, f"This resource takes no upload: {refused}.") from None
        except UploadInProgress:
            raise ApiError(
                409, "Another upload of this resource is in progress; retry when it ends."
            ) from None
        except UploadElsewhere:
            raise ApiError(
                409, "Upload the bytes to the upload_url of the resource: it is the bucket's."
            ) from None

    @get(
        "/",
        operation_id="downloadContent",
        summary="Stream the file's bytes (the signed download url)",
        response_description="Exactly the confirmed bytes, streamed, as the resource's mime_type",
        response_headers=DOWNLOAD_HEADERS,
        operation_class=documented(content={200: DOWNLOADED}, responses={307: REDIRECTED}),
        responses=error_responses(
            403, (404, "No such resource, deleted, a link, or not uploaded yet"), 503
        ),
    )
    async def download(
        self,
        request: Request[Any, Any, Any],
        resource_id: ResourceId,
        expires: Expires = None,
        signature: Signature = None,
    ) -> Stream | Redirect:
        services, resources = services_of(request), resources_of(request)
        _verify(services, "GET", well_formed(resource_id), expires, signature)
        record, name = await resources.download(existing_id(resource_id))
        if resources.blobs.direct:
            return Redirect(services.links.download(record), status_code=307)
        headers = {
            # Set here, not as media_type alone: Litestar would add "; charset=utf-8"
            # to a text/* type, claiming an encoding the bytes may not have.
            "Content-Type": record.mime_type,
            "Content-Length": str(record.size_bytes),
            "Content-Disposition": content_disposition(record.name),
        }
        if record.digest is not None:
            headers["ETag"] = f'"{record.digest}"'
        return Stream(resources.blobs.read(name), media_type=record.mime_type, headers=headers)
