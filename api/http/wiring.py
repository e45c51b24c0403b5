"""What a handler reaches through its request: the app's services, opened on startup.

Handlers look them up in `app.state` rather than through Litestar's dependency
injection: with two or more dependencies Litestar resolves them in an anyio task
group, a task per dependency per request — about a tenth of a GET's CPU time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request

if TYPE_CHECKING:
    from api.composition.services import Services
    from api.http.controllers.events import Frames
    from api.observability.metrics import ServiceMetrics
    from application.feed import EventFeed
    from application.history import ResourceHistory
    from application.ports import ActivityReads
    from application.service import ResourceService

SERVICES = "services"
RESOURCES = "resources"
METRICS = "metrics"
ACTIVITY = "activity"
HISTORY = "history"
FEED = "feed"
FRAMES = "frames"
REPLICA = "replica"


def services_of(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state[SERVICES]
    return services


def resources_of(request: Request[Any, Any, Any]) -> ResourceService:
    resources: ResourceService = request.app.state[RESOURCES]
    return resources


def metrics_of(request: Request[Any, Any, Any]) -> ServiceMetrics:
    metrics: ServiceMetrics = request.app.state[METRICS]
    return metrics


def activity_of(request: Request[Any, Any, Any]) -> ActivityReads:
    activity: ActivityReads = request.app.state[ACTIVITY]
    return activity


def history_of(request: Request[Any, Any, Any]) -> ResourceHistory:
    history: ResourceHistory = request.app.state[HISTORY]
    return history


def feed_of(request: Request[Any, Any, Any]) -> EventFeed:
    feed: EventFeed = request.app.state[FEED]
    return feed


def frames_of(request: Request[Any, Any, Any]) -> Frames:
    frames: Frames = request.app.state[FRAMES]
    return frames
