"""`/api/activity`: the project's audit feed across its resources."""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.params import QueryParameter

from api.http.auth import principal_of
from api.http.controllers.history import event_fields
from api.http.errors import ApiError, error_responses
from api.http.parameters import (
    DATE_TIME,
    MAX_ID,
    PLAIN_TEXT,
    WHOLE_NUMBERS,
    Page,
    PerPage,
    SessionToken,
    WholeNumber,
    parse_rfc3339,
    plain_text,
    whole_numbers,
)
from api.http.schemas import (
    ActivityData,
    ActivityEnvelope,
    ActivityEvent,
    ActivityPagination,
    Header,
)
from api.http.wiring import activity_of
from projections.activity import EVENT_TYPES, ActivityEntry, ActivityFilter

DEEP_OFFSET = 10_000
"""Events a page skips from which its answer points to the event feed (`Link`): a page
costs the events it skips, the feed's cursor costs the same at any depth."""


def feed_link(entries: list[ActivityEntry], where: ActivityFilter) -> str:
    """The event feed from this page's oldest event on (oldest first, by cursor), with
    the filters the feed has; it has no actor or time filters."""
    query: dict[str, str | int] = {
        "after": min(entry.id for entry in entries) - 1 if entries else 0
    }
    if where.type is not None:
        query["type"] = where.type
    if where.resource_id is not None:
        query["resource_id"] = where.resource_id
    return f'</api/events?{urlencode(query)}>; rel="related"'


FEED_LINK = Header(
    "Link",
    description="On a page that skips 10,000 events or more: the event feed from this page's"
    ' oldest event on, oldest first, by cursor (`rel="related"`), which costs the same at any'
    " depth",
    schema={"type": "string", "pattern": '^</api/events\\?after=[0-9]+[^>]*>; rel="related"$'},
)
"""The header of `feed_link`."""


def activity_event(entry: ActivityEntry) -> ActivityEvent:
    return ActivityEvent(
        id=entry.id, position=entry.id, resource_id=entry.resource_id, **event_fields(entry)
    )


class ActivityController(Controller):
    path = "/api/activity"
    tags = ["audit"]  # noqa: RUF012 - Litestar reads it as a class attribute
    security = [{"BearerAuth": []}]  # noqa: RUF012

    @get(
        "/",
        operation_id="projectActivity",
        type_decoders=WHOLE_NUMBERS,
        summary="The project's events across its resources, newest first",
        description="Built by an asynchronous projection: new events appear within a second.",
        response_headers=[FEED_LINK],
        responses=error_responses(
            (400, "An unknown type, a malformed time, a value out of range"), 401, 503
        ),
    )
    async def activity(
        self,
        request: Request[Any, Any, Any],
        actor: Annotated[
            str | None,
            QueryParameter(description="Only this user's events", schema_extra=PLAIN_TEXT),
        ] = None,
        type: Annotated[
            str | None,
            QueryParameter(
                description="Only events of this type",
                schema_extra={"type": "string", "enum": list(EVENT_TYPES)},
            ),
        ] = None,
        resource_id: Annotated[
            WholeNumber | None,
            QueryParameter(
                description="Only this resource's events",
                schema_extra=whole_numbers(1, MAX_ID),
            ),
        ] = None,
        since: Annotated[
            str | None,
            QueryParameter(
                description="Events at or after this RFC 3339 time", schema_extra=DATE_TIME
            ),
        ] = None,
        until: Annotated[
            str | None,
            QueryParameter(description="Events before this RFC 3339 time", schema_extra=DATE_TIME),
        ] = None,
        page: Page = 1,
        per_page: PerPage = 20,
        session_token: SessionToken = None,  # for api.http.consistency: a replica read
    ) -> Response[ActivityEnvelope]:
        if type is not None and type not in EVENT_TYPES:
            raise ApiError(400, f"type must be one of {', '.join(EVENT_TYPES)}.")
        where = ActivityFilter(
            actor=plain_text(actor, "actor"),
            type=type,
            resource_id=resource_id,
            since=None if since is None else parse_rfc3339(since, "since"),
            until=None if until is None else parse_rfc3339(until, "until"),
        )
        principal = await principal_of(request)
        found = await activity_of(request).page(principal.project_id, where, page, per_page)
        envelope = ActivityEnvelope(
            data=ActivityData(events=[activity_event(entry) for entry in found.entries]),
            pagination=ActivityPagination(
                page=page,
                per_page=per_page,
                total=found.total,
                total_pages=math.ceil(found.total / per_page),
                total_is_lower_bound=found.total_is_lower_bound,
            ),
        )
        deep = (page - 1) * per_page >= DEEP_OFFSET
        return Response(envelope, headers={"Link": feed_link(found.entries, where)} if deep else {})
