"""`/api/events`: the project's event feed, oldest first, in commit order; its NDJSON
export; its live stream (Server-Sent Events) and the stream's signed URL."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.openapi.spec import OpenAPIMediaType, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Stream
from litestar.types import Scope

from api.composition.signing import STREAM, SignatureRejected
from api.http.auth import principal_of
from api.http.connections import aborter, body_writer
from api.http.controllers import documented
from api.http.controllers.history import event_fields
from api.http.errors import ApiError, error_responses
from api.http.parameters import (
    MAX_ID,
    WHOLE_NUMBERS,
    SessionToken,
    WholeNumber,
    whole_number,
    whole_numbers,
)
from api.http.schemas import (
    ErrorDetail,
    FeedCursor,
    FeedData,
    FeedEnvelope,
    FeedEvent,
    StreamUrl,
    StreamUrlData,
)
from api.http.wiring import feed_of, frames_of, services_of
from application.errors import DatabaseUnavailable
from application.feed import EventFeed, FeedFilter, StreamSlot, TooManyStreams
from projections.activity import EVENT_TYPES, ActivityEntry

logger = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
EVENT_STREAM = "text/event-stream"
RETRY_MILLISECONDS = 2000
"""What a stream tells its EventSource to wait before it reconnects."""
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_WAIT = 60
STREAM_RETRY_AFTER = "5"
"""Seconds a client refused a stream (MAX_STREAMS) is told to wait."""
UNAVAILABLE_COMMENT = b": the database cannot be reached; reconnect to resume\n\n"
"""A stream's last line when its backlog cannot be read (after its 200: no 503)."""

_encode = msgspec.json.Encoder().encode


class Export(Stream):
    """A stream that keeps its own media type: the handler's (JSON) is for its pages."""

    def to_asgi_response(self, app: Any, request: Request[Any, Any, Any], **kwargs: Any) -> Any:
        return super().to_asgi_response(app, request, **{**kwargs, "media_type": NDJSON})


def feed_event(entry: ActivityEntry) -> FeedEvent:
    return FeedEvent(position=entry.id, resource_id=entry.resource_id, **event_fields(entry))


class Frames:
    """Each event's SSE frame, made once for all the streams that carry it (a process's
    streams of one project get the same events), kept for the last few thousand."""

    KEPT = 8192

    def __init__(self) -> None:
        self._made: dict[int, bytes] = {}

    def of(self, entries: Sequence[ActivityEntry]) -> bytes:
        return b"".join(self._frame(entry) for entry in entries)

    def _frame(self, entry: ActivityEntry) -> bytes:
        frame = self._made.get(entry.id)
        if frame is None:
            if len(self._made) >= self.KEPT:
                self._made.clear()
            data = _encode(feed_event(entry))
            frame = b"id: %d\nevent: %s\ndata: %s\n\n" % (entry.id, entry.type.encode(), data)
            self._made[entry.id] = frame
        return frame


def position(value: str | None, name: str) -> int:
    """A position given as text: 0 to 2^63-1; anything else is a 400."""
    if value is None:
        return 0
    return bounded(value, name, 0, MAX_ID, what="an event's position: ")


def bounded(value: str, name: str, low: int, high: int, *, what: str = "") -> int:
    """A whole number given as text, from `low` to `high`; anything else is a 400."""
    # Digits only, and no more than `high` has: int() of thousands of digits raises.
    if value.isascii() and value.isdigit() and len(value) <= len(str(high)):
        number = int(value)
        if low <= number <= high:
            return number
    raise ApiError(
        400,
        f"{name} must be {what}a whole number from {low} to {high}.",
        details=[ErrorDetail(field=name, message=f"is not a whole number from {low} to {high}")],
    )


def feed_filter(type: str | None, resource_id: int | None) -> FeedFilter:
    if type is not None and type not in EVENT_TYPES:
        raise ApiError(
            400,
            f"type must be one of {', '.join(EVENT_TYPES)}.",
            details=[ErrorDetail(field="type", message="is not an event type")],
        )
    return FeedFilter(type=type, resource_id=resource_id)


After = Annotated[
    str | None,
    QueryParameter(
        description="The position of the last event you have (0: from the first)",
        schema_extra=whole_numbers(0, MAX_ID),
    ),
]
Type = Annotated[
    str | None,
    QueryParameter(
        description="Only events of this type",
        schema_extra={"type": "string", "enum": list(EVENT_TYPES)},
    ),
]
OfResource = Annotated[
    WholeNumber | None,
    QueryParameter(
        description="Only this resource's events", schema_extra=whole_numbers(1, MAX_ID)
    ),
]


PAGE_OR_EXPORT = {
    "application/json": OpenAPIMediaType(schema=Reference("#/components/schemas/FeedEnvelope")),
    NDJSON: OpenAPIMediaType(
        schema=Schema(
            type=OpenAPIType.ARRAY,
            items=Reference("#/components/schemas/FeedEvent"),
            description="NDJSON: each line is one of these events, no envelope",
        )
    ),
}
SSE = {
    EVENT_STREAM: OpenAPIMediaType(
        schema=Schema(type=OpenAPIType.STRING),
        example=f"retry: {RETRY_MILLISECONDS}\n\n"
        'id: 42\nevent: Renamed\ndata: {"position": 42}\n\n',
    )
}


def _wants_ndjson(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return any(
        part.split(";")[0].strip().lower() == NDJSON for part in accept.split(",") if part.strip()
    )


class EventsController(Controller):
    path = "/api/events"
    tags = ["events"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get(
        "/",
        operation_id="eventFeed",
        type_decoders=WHOLE_NUMBERS,
        security=[{"BearerAuth": []}],
        summary="The project's events after a position, oldest first, in commit order",
        description=(
            "Page with `after` set to the last `cursor.after`: every event of the project"
            " comes exactly once, in commit order, also while others write. With `wait`, a"
            " request that finds nothing is held until an event comes (within a second of"
            " its write) or `wait` passes. With `Accept: application/x-ndjson`: every event"
            " after `after` up to the newest at the request's start (at most `limit` if"
            " given), one JSON object a line, streamed: the audit export."
        ),
        response_description="A page of events after the cursor, oldest first; or, with"
        " `Accept: application/x-ndjson`, every event after `after` up to the newest at the"
        " request's start (at most `limit` if given), one JSON object a line, streamed",
        operation_class=documented(content={200: PAGE_OR_EXPORT}),
        responses=error_responses(
            (400, "A malformed after, limit or wait out of range, an unknown type"), 401, 503
        ),
    )
    async def feed(
        self,
        request: Request[Any, Any, Any],
        after: After = None,
        limit: Annotated[
            str | None,
            QueryParameter(
                description="Events at most, 1 to 1000 (default 100; the export: all)",
                schema_extra=whole_numbers(1, MAX_LIMIT),
            ),
        ] = None,
        type: Type = None,
        resource_id: OfResource = None,
        wait: Annotated[
            int,
            QueryParameter(
                ge=0,
                le=MAX_WAIT,
                description="Seconds to hold the request while there is nothing new, 0 to 60",
                schema_extra=whole_numbers(0, MAX_WAIT),
            ),
        ] = 0,
        session_token: SessionToken = None,  # for api.http.consistency: a replica read
    ) -> FeedEnvelope:
        start = position(after, "after")
        most = None if limit is None else bounded(limit, "limit", 1, MAX_LIMIT)
        where = feed_filter(type, resource_id)
        principal = await principal_of(request)
        feed = feed_of(request)
        if _wants_ndjson(request):
            pages = await feed.export(principal.project_id, where, start, most)
            lines = _ndjson(pages, request.scope)
            return Export(lines, media_type=NDJSON)  # type: ignore[return-value]
        entries, has_more = await feed.page(
            principal.project_id, where, start, most or DEFAULT_LIMIT, float(wait)
        )
        return FeedEnvelope(
            data=FeedData(events=[feed_event(entry) for entry in entries]),
            cursor=FeedCursor(after=entries[-1].id if entries else start, has_more=has_more),
        )

    @get(
        "/stream",
        operation_id="eventStream",
        media_type=EVENT_STREAM,
        type_decoders=WHOLE_NUMBERS,
        security=[{"BearerAuth": []}, {}],
        summary="The project's events, live, as Server-Sent Events",
        description=(
            "A `retry:` line, the events after the cursor, then each new one within a second"
            " of its write: `id:` its position, `event:` its type, `data:` the event as in"
            " the feed. `: keep-alive` every STREAM_HEARTBEAT seconds of quiet. Resume with"
            " `Last-Event-ID`: nothing lost, nothing repeated. Opened with a key, or without"
            " one on the URL from `/api/events/stream-url`. A client that does not read is"
            " disconnected, and resumes."
        ),
        response_description="Server-Sent Events: `retry:` first, then `id: <position>`,"
        " `event: <type>`, `data: <the event as in the feed>` for every event after the cursor,"
        " and `: keep-alive` every STREAM_HEARTBEAT seconds of quiet. It goes on until the"
        " client leaves, the client falls STREAM_BUFFER events behind, or the server stops:"
        " resume with `Last-Event-ID`.",
        operation_class=documented(content={200: SSE}),
        responses=error_responses(
            (400, "A malformed after or Last-Event-ID, an unknown type"),
            401,
            (403, "The signed stream URL was tampered with or has expired"),
            (
                503,
                "The process has MAX_STREAMS open streams (`Retry-After`), or the database"
                " cannot be reached",
            ),
        ),
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        after: After = None,
        type: Type = None,
        resource_id: OfResource = None,
        last_event_id: Annotated[
            str | None,
            HeaderParameter(
                name="Last-Event-ID",
                description="The id of the last event received: the stream resumes after it"
                " (it wins over `after`)",
                schema_extra=whole_numbers(0, MAX_ID),
            ),
        ] = None,
        project: Annotated[
            str | None,  # read in _signed_project: an altered project is a 403, not a 400
            QueryParameter(
                description="The project of a signed stream URL",
                schema_extra=whole_numbers(1, MAX_ID),
            ),
        ] = None,
        expires: Annotated[
            str | None, QueryParameter(description="The signed URL's expiry, as signed")
        ] = None,
        signature: Annotated[
            str | None, QueryParameter(description="The signed URL's signature")
        ] = None,
        session_token: SessionToken = None,  # for api.http.consistency: a replica read
    ) -> Stream:
        start = (  # an empty Last-Event-ID is no id: EventSource's own reset
            position(last_event_id, "Last-Event-ID") if last_event_id else position(after, "after")
        )
        where = feed_filter(type, resource_id)
        if project is not None or expires is not None or signature is not None:
            project_id = _signed_project(request, project, expires, signature)
        else:
            project_id = (await principal_of(request)).project_id
        feed = feed_of(request)
        try:
            slot = feed.admit()
        except TooManyStreams:
            raise ApiError(
                503,
                "This server has as many open streams as it takes; try again shortly.",
                headers={"Retry-After": STREAM_RETRY_AFTER},
            ) from None
        return Stream(
            _sse(feed, slot, frames_of(request), project_id, where, start, request.scope),
            media_type=EVENT_STREAM,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @get(
        "/stream-url",
        operation_id="eventStreamUrl",
        security=[{"BearerAuth": []}],
        summary="A signed URL of the project's event stream, for a browser's EventSource",
        responses=error_responses(401, 503),
    )
    async def stream_url(self, request: Request[Any, Any, Any]) -> StreamUrlData:
        principal = await principal_of(request)
        url = services_of(request).signer.stream_url(principal.project_id)
        return StreamUrlData(data=StreamUrl(url=url))


def _signed_project(
    request: Request[Any, Any, Any],
    project: str | None,
    expires: str | None,
    signature: str | None,
) -> int:
    if project is None:
        raise ApiError(403, "The signed URL is not valid: the URL is not signed.")
    try:
        project_id = whole_number(WholeNumber, project)
    except ValueError:
        raise ApiError(
            403,
            "The signed URL is not valid: its project was altered; use the URL exactly as it"
            " was handed out.",
        ) from None
    try:
        services_of(request).signer.verify(STREAM, project_id, expires, signature)
    except SignatureRejected as rejected:
        raise ApiError(403, f"The signed URL is not valid: {rejected}.") from None
    return project_id


async def _ndjson(pages: AsyncIterator[list[ActivityEntry]], scope: Scope) -> AsyncIterator[bytes]:
    try:
        async for page in pages:
            yield b"".join(_encode(feed_event(entry)) + b"\n" for entry in page)
    except DatabaseUnavailable as unavailable:
        # The 200 has gone. The connection is cut, not the response ended: the client
        # must not take what it has for the whole export.
        abort = aborter(scope)
        if abort is None:
            raise
        logger.warning("an export was cut short: %s", unavailable)
        abort()


async def _sse(
    feed: EventFeed,
    slot: StreamSlot,
    frames: Frames,
    project_id: int,
    where: FeedFilter,
    after: int,
    scope: Scope,
) -> AsyncIterator[bytes]:
    abort = aborter(scope)

    def closed(reason: str) -> None:
        if reason == "slow" and abort is not None:
            abort()  # its send may be blocked: free the connection now

    try:
        yield b"retry: %d\n\n" % RETRY_MILLISECONDS
        # The response has started (the line above is written): the server's body
        # writer, if it gives one, lets the hub write live events straight to this
        # connection.
        write = body_writer(scope)
        sink = None if write is None else lambda entries: write(frames.of(entries))
        async for batch in feed.stream(
            project_id, where, after, on_close=closed, sink=sink, slot=slot
        ):
            yield frames.of(batch) if batch else b": keep-alive\n\n"
            del batch  # not kept while the hub writes through the sink (application/feed.py)
    except DatabaseUnavailable as unavailable:
        # Its backlog could not be read. The 200 has gone, so no 503: the stream ends,
        # and the client comes back after `retry` with its Last-Event-ID.
        logger.warning("an event stream ended: %s", unavailable)
        yield UNAVAILABLE_COMMENT
    finally:
        slot.free()  # a client gone before the stream began; else `stream` has freed it
