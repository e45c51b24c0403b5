"""Operations endpoints, without auth: liveness, readiness and metrics."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.openapi import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST

from api.http.errors import error_responses, unauthorized
from api.http.schemas import Health, Readiness, ReadinessCheck
from api.http.wiring import REPLICA, metrics_of, services_of
from application.errors import DatabaseUnavailable
from projections.status import ProjectionStatus, Writer

logger = logging.getLogger(__name__)

READY_SECONDS = 0.8
"""/ready answers within a second, whatever the database does."""


def held_back(writer: Writer) -> str:
    """What holds a projection back, as an operator reads it."""
    return (
        f"held back by a transaction open {writer.age_seconds:.0f} s"
        f" (pid {writer.pid}, database {writer.database or '?'}, {writer.state or 'state unknown'})"
    )


class HealthController(Controller):
    path = "/"
    tags = ["operations"]  # noqa: RUF012 - Litestar reads it as a class attribute

    @get("/health", operation_id="health", summary="Liveness: the process answers")
    async def health(self) -> Health:
        return Health(status="ok")

    @get(
        "/ready",
        operation_id="ready",
        summary="Readiness: the database answers and projections are within their lag bound",
        responses={503: ResponseSpec(Readiness, description="Not ready", generate_examples=False)},
    )
    async def ready(self, request: Request[Any, Any, Any]) -> Response[Readiness]:
        """Answers within a second: a database that does not answer by then is not ready."""
        services = services_of(request)
        checks: list[ReadinessCheck] = []
        bound = services.settings.ready_max_lag_seconds

        def statuses() -> list[ProjectionStatus]:
            services.database_answers()
            return services.projection_status()

        try:
            found = await services.read(statuses, seconds=READY_SECONDS)
        except DatabaseUnavailable as error:
            logger.warning("readiness: the database does not answer: %s", error)
            checks.append(ReadinessCheck(name="database", ok=False, detail="does not answer"))
        else:
            checks.append(ReadinessCheck(name="database", ok=True, detail="answers"))
            for status in found:
                ok = status.lag_seconds <= bound
                detail = (
                    f"{status.lag_events} events, {status.lag_seconds:.1f} s behind"
                    f" (bound {bound} s)"
                )
                if not ok and status.held_by is not None:
                    detail += f"; {held_back(status.held_by)}"
                checks.append(
                    ReadinessCheck(name=f"projection:{status.name}", ok=ok, detail=detail)
                )
        replica = request.app.state.get(REPLICA)
        if replica is not None:  # named, never failing: the primary serves without it
            checks.append(ReadinessCheck(name="replica", ok=True, detail=replica.state().detail))
        ready = all(check.ok for check in checks)
        return Response(
            Readiness(status="ready" if ready else "not_ready", checks=checks),
            status_code=200 if ready else 503,
        )

    @get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics",
        description="With METRICS_TOKEN set, it asks for `Authorization: Bearer <METRICS_TOKEN>`.",
        responses=error_responses((401, "METRICS_TOKEN is set and was not sent")),
        media_type=CONTENT_TYPE_LATEST.split("; charset=")[0],  # Litestar adds the charset
    )
    async def metrics(
        self,
        request: Request[Any, Any, Any],
    ) -> bytes:
        services, metrics = services_of(request), metrics_of(request)
        token = services.settings.metrics_token
        if token is not None:
            presented = request.headers.get("authorization", "").encode()
            if not hmac.compare_digest(presented, f"Bearer {token}".encode()):
                raise unauthorized("Send METRICS_TOKEN as Authorization: Bearer <token>.")
        return await metrics.exposition()
