"""Operations endpoints, without auth: liveness, readiness and metrics."""

from __future__ import annotations

import logging

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from prometheus_client import CONTENT_TYPE_LATEST

from api.metrics import ServiceMetrics
from api.schemas import Health, Readiness, ReadinessCheck
from api.services import Services

logger = logging.getLogger(__name__)


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
        sync_to_thread=True,
        responses={503: ResponseSpec(Readiness, description="Not ready", generate_examples=False)},
    )
    def ready(self, services: NamedDependency[Services]) -> Response[Readiness]:
        checks: list[ReadinessCheck] = []
        bound = services.settings.ready_max_lag_seconds
        try:
            services.database_answers()
            checks.append(ReadinessCheck(name="database", ok=True, detail="answers"))
            for status in services.projection_status():
                checks.append(
                    ReadinessCheck(
                        name=f"projection:{status.name}",
                        ok=status.lag_seconds <= bound,
                        detail=f"{status.lag_events} events, {status.lag_seconds:.1f} s behind"
                        f" (bound {bound} s)",
                    )
                )
        except Exception as error:  # a readiness probe reports, it does not fail
            logger.warning("readiness check failed: %s", error)
            checks.append(ReadinessCheck(name="database", ok=False, detail=str(error)[:200]))
        ready = all(check.ok for check in checks)
        return Response(
            Readiness(status="ready" if ready else "not_ready", checks=checks),
            status_code=200 if ready else 503,
        )

    @get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics",
        media_type=CONTENT_TYPE_LATEST,
        sync_to_thread=True,
    )
    def metrics(self, metrics: NamedDependency[ServiceMetrics]) -> bytes:
        return metrics.exposition()
