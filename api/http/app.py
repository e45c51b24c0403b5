"""The Litestar app factory."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from litestar import Litestar, Request
from litestar.config.cors import CORSConfig
from litestar.types import Message, Scope
from opentelemetry.sdk.trace import TracerProvider

from adapters.activity_reads import PostgresActivityReads, PostgresEventFeed
from adapters.resource_store import PostgresResourceStore
from api.composition.services import Services
from api.composition.settings import Settings
from api.http.bodies import check_body
from api.http.connections import on_drain
from api.http.consistency import answer_token, mark_reads
from api.http.controllers.activity import ActivityController
from api.http.controllers.content import ContentController
from api.http.controllers.events import EventsController, Frames
from api.http.controllers.health import HealthController
from api.http.controllers.history import HistoryController
from api.http.controllers.resources import JSON_BODY, ResourceController, require_json
from api.http.errors import EXCEPTION_HANDLERS, JSON_BODY_LIMIT, not_found
from api.http.openapi import openapi_config
from api.http.parameters import PATH_IDS
from api.http.wiring import (
    ACTIVITY,
    FEED,
    FRAMES,
    HISTORY,
    METRICS,
    REPLICA,
    RESOURCES,
    SERVICES,
)
from api.observability.logs import bind_request
from api.observability.logs import configure as configure_logging
from api.observability.metrics import ServiceMetrics
from api.observability.request_ids import request_id_of
from api.observability.request_metrics import on_send, start_clock
from api.observability.tracing import tracer_provider_from_env, tracing_plugin
from application.feed import EventFeed, FeedHub
from application.service import ResourceService

logger = logging.getLogger(__name__)


async def admit(request: Request[Any, Any, Any]) -> None:
    """Every routed request, before its handler: start its clock for the metrics,
    refuse a path that is not ASCII (404), a body that is not JSON where a handler
    expects JSON (415), and a JSON body that does not strictly fit (400, 422).

    One app-level hook, async so that Litestar runs it on the event loop (a sync
    hook runs in a worker thread).
    """
    start_clock(request.scope)
    bind_request(request_id_of(request.scope))
    if not request.scope["path"].isascii():
        raise not_found()  # an Arabic-Indic "1" names nothing, though int() reads it as 1
    mark_reads(request)
    schema = request.route_handler.opt.get(JSON_BODY)
    if schema is not None:
        require_json(request)
        check_body(await request.body(), schema)


async def collect_garbage(service: ResourceService, settings: Settings) -> None:
    """The blob store's garbage collection and the sweep of expired Idempotency-Key
    outcomes, every BLOB_GC_INTERVAL seconds (the first at a random moment in the
    first interval, so workers and hosts spread out)."""
    interval = settings.blob_gc_interval
    older_than = timedelta(seconds=settings.signed_url_ttl)
    await asyncio.sleep(random.uniform(0, interval))  # noqa: S311 - spreading, not secrecy
    while True:
        try:
            async for item in service.collect_garbage(older_than=older_than):
                logger.info("blob gc: removed %s %s", item.kind, item.name)
            swept = await service.forget_old_outcomes()
            if swept:
                logger.info("swept %s Idempotency-Key outcomes older than 24 hours", swept)
        except Exception:
            logger.exception("garbage collection failed; trying again in %s s", interval)
        await asyncio.sleep(interval)


CORS_REQUEST_HEADERS = [
    "authorization",
    "content-type",
    "if-match",
    "idempotency-key",
    "last-event-id",
    "session-token",
    "x-request-id",
]
CORS_EXPOSED_HEADERS = [
    "ETag",
    "Location",
    "Idempotent-Replayed",
    "Retry-After",
    "Session-Token",
    "X-Request-ID",
    "Content-Disposition",
    "Content-Length",
    "WWW-Authenticate",
]


def cors_config(settings: Settings) -> CORSConfig | None:
    """CORS_ORIGINS' pages may call the API, the stream and the content URLs: preflights
    for the headers the API reads, and the headers it answers exposed to their scripts."""
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS"],
        allow_headers=CORS_REQUEST_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
        max_age=600,
    )


def create_app(
    settings: Settings,
    services: Services | None = None,
    *,
    tracer_provider: TracerProvider | None = None,
) -> Litestar:
    """Builds the app; the services (database pool, blob store) open on startup."""
    state: dict[str, Services] = {}
    metrics: dict[str, ServiceMetrics] = {}
    running: dict[str, tuple[ResourceService, PostgresResourceStore]] = {}
    tasks: set[asyncio.Task[None]] = set()
    hubs: list[FeedHub] = []
    undrain: list[Callable[[], None]] = []
    if services is not None:
        state["services"] = services

    def open_services(app: Litestar) -> None:
        if "services" not in state:
            # The library's pool serves only /ready, /metrics and the schema step here
            # (requests use the async pool): a few sessions, not one per request.
            state["services"] = Services(settings, pool_size=3)
        services = state["services"]
        metrics["metrics"] = ServiceMetrics(
            lambda: services.read(services.projection_status, seconds=1.0)
        )
        recorder = state["services"].events.projecting_recorder
        recorder.on_recorded.append(metrics["metrics"].count_appended)
        app.state[SERVICES] = state["services"]
        app.state[METRICS] = metrics["metrics"]

    def close_services() -> None:
        if "services" not in state or "metrics" not in metrics:
            return  # the startup failed before they were built
        recorder = state["services"].events.projecting_recorder
        recorder.on_recorded.remove(metrics["metrics"].count_appended)
        if services is None:
            state.pop("services").close()

    async def open_async(app: Litestar) -> None:
        service, store = state["services"].resource_service()
        await store.open()
        running["resources"] = (service, store)
        app.state[RESOURCES] = service
        app.state[REPLICA] = store.replica
        app.state[ACTIVITY] = PostgresActivityReads(store, state["services"].activity)
        app.state[HISTORY] = state["services"].resource_history(store)
        reads = PostgresEventFeed(store, state["services"].activity)
        hub = FeedHub(reads, capacity=settings.stream_buffer)
        hubs.append(hub)
        app.state[FEED] = EventFeed(
            reads, hub, max_streams=settings.max_streams, heartbeat=settings.stream_heartbeat
        )
        app.state[FRAMES] = Frames()
        metrics["metrics"].feed.feed = app.state[FEED]
        undrain.append(on_drain(hub.stop))
        tasks.add(asyncio.create_task(hub.run()))
        tasks.add(asyncio.create_task(collect_garbage(service, settings)))
        # What startup built lives as long as the process: out of the collector's
        # way. A full collection then took ~2 ms under load instead of ~27 ms.
        gc.collect()
        gc.freeze()

    async def close_async() -> None:
        for hub in hubs:
            hub.stop()
        for remove in undrain:
            remove()
        for task in tasks:
            task.cancel()
        started = running.pop("resources", None)
        if started is not None:  # None: the startup failed before the store opened
            await started[1].close()

    async def session_token(message: Message, scope: Scope) -> None:
        if "resources" in running:
            await answer_token(running["resources"][1], message, scope)

    return Litestar(
        route_handlers=[
            ResourceController,
            HistoryController,
            ActivityController,
            EventsController,
            ContentController,
            HealthController,
        ],
        before_request=admit,
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[on_send, session_token] if settings.database_replica_url else [on_send],
        # Logging is configured once per process (api.observability.logs), not by Litestar.
        logging_config=None,
        plugins=[tracing_plugin(tracer_provider)] if tracer_provider is not None else [],
        on_startup=[open_services, open_async],
        on_shutdown=[close_async, close_services],
        request_max_body_size=JSON_BODY_LIMIT,
        type_decoders=PATH_IDS,
        openapi_config=openapi_config(settings),
        cors_config=cors_config(settings),
        debug=False,
    )


def create_app_from_env() -> Litestar:
    """The factory `resources serve` hands to uvicorn in each worker."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, tracer_provider=tracer_provider_from_env(os.environ))
