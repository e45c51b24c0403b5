"""`/api/resources/{id}/history`: every event of a resource, deleted ones included."""

from __future__ import annotations

import math
from typing import Any

from litestar import Controller, Request, get

from api.http.auth import caller
from api.http.errors import error_responses
from api.http.parameters import Page, PerPage, ResourceId, SessionToken, id_or_none
from api.http.schemas import (
    Change,
    HistoryData,
    HistoryEnvelope,
    HistoryEvent,
    Pagination,
)
from api.http.wiring import history_of
from application.history import HistoryEntry
from projections.activity import ActivityEntry


def event_fields(entry: HistoryEntry | ActivityEntry) -> dict[str, Any]:
    """What the history and the activity feed show of every event."""
    return {
        "version": entry.version,
        "type": entry.type,
        "occurred_at": entry.occurred_at,
        "actor": entry.actor,
        "key_id": entry.key_id,
        "request_id": entry.request_id,
        "changes": {
            field: Change(from_=old, to=new) for field, (old, new) in entry.changes.items()
        },
    }


class HistoryController(Controller):
    path = "/api/resources/{resource_id:str}/history"
    tags = ["audit"]  # noqa: RUF012 - Litestar reads it as a class attribute
    security = [{"BearerAuth": []}]  # noqa: RUF012

    @get(
        "/",
        operation_id="resourceHistory",
        summary="The resource's events, oldest first, with what each changed",
        description="A deleted resource's history answers too: the audit trail stays.",
        responses=error_responses(
            400, 401, (404, "No resource of this project ever had the id"), 503
        ),
    )
    async def history(
        self,
        request: Request[Any, Any, Any],
        resource_id: ResourceId,
        page: Page = 1,
        per_page: PerPage = 20,
        session_token: SessionToken = None,  # for api.http.consistency: a replica read
    ) -> HistoryEnvelope:
        # The key is looked up with the events (401 first); an id out of range names
        # no resource (404).
        found = await history_of(request).page(
            caller(request), id_or_none(resource_id), page, per_page
        )
        return HistoryEnvelope(
            data=HistoryData(
                events=[HistoryEvent(**event_fields(entry)) for entry in found.entries]
            ),
            pagination=Pagination(
                page=page,
                per_page=per_page,
                total=found.total,
                total_pages=math.ceil(found.total / per_page),
            ),
        )
