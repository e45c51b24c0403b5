"""`/health`: liveness, without auth."""

from __future__ import annotations

from litestar import Controller, get

from api.schemas import Health


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/", operation_id="health", summary="Liveness: the process answers")
    async def health(self) -> Health:
        return Health(status="ok")
