"""Prometheus metrics: requests (Litestar's middleware), events appended, projections."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence

from eventsourcing.persistence import StoredEvent
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from application.errors import DatabaseUnavailable
from application.feed import EventFeed
from projections.status import ProjectionStatus

logger = logging.getLogger(__name__)


class ProjectionCollector(Collector):
    """Each projection's position and lag, as read for the scrape at hand."""

    def __init__(self) -> None:
        self.statuses: list[ProjectionStatus] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        position = GaugeMetricFamily(
            "resources_projection_position", "Last event applied", labels=["projection"]
        )
        head = GaugeMetricFamily("resources_event_store_head", "Newest event's position")
        lag_events = GaugeMetricFamily(
            "resources_projection_lag_events", "Events not yet applied", labels=["projection"]
        )
        lag_seconds = GaugeMetricFamily(
            "resources_projection_lag_seconds",
            "Age of the oldest event not yet applied",
            labels=["projection"],
        )
        rebuild = GaugeMetricFamily(
            "resources_projection_rebuild_position",
            "Position a rebuild in progress has reached",
            labels=["projection"],
        )
        statuses = self.statuses
        if not statuses:
            return
        for status in statuses:
            position.add_metric([status.name], status.position)
            lag_events.add_metric([status.name], status.lag_events)
            lag_seconds.add_metric([status.name], status.lag_seconds)
            if status.rebuild_position is not None:
                rebuild.add_metric([status.name], status.rebuild_position)
        head.add_metric([], statuses[0].head if statuses else 0)
        yield from (position, head, lag_events, lag_seconds, rebuild)


class FeedCollector(Collector):
    """The event feed's streams, held requests and deliveries in this process."""

    def __init__(self) -> None:
        self.feed: EventFeed | None = None
        self.store_head: int | None = None

    def collect(self) -> Iterator[Metric]:
        feed = self.feed
        if feed is None:
            return
        hub = feed.hub
        yield GaugeMetricFamily(
            "resources_event_streams_open", "Event streams open", value=feed.open_streams
        )
        yield GaugeMetricFamily(
            "resources_event_feed_held_requests",
            "Event feed requests held for the next event",
            value=feed.held,
        )
        yield CounterMetricFamily(
            "resources_event_feed_delivered",
            "Events handed to streams and held requests",
            value=hub.delivered,
        )
        yield CounterMetricFamily(
            "resources_event_streams_closed_slow",
            "Streams closed because their client fell STREAM_BUFFER events behind",
            value=hub.closed_slow,
        )
        if hub.head is not None:
            yield GaugeMetricFamily(
                "resources_event_feed_position", "Newest event the feed has read", value=hub.head
            )
            if self.store_head is not None:
                yield GaugeMetricFamily(
                    "resources_event_feed_lag_events",
                    "Events appended that the feed has not read yet",
                    value=max(0, self.store_head - hub.head),
                )


class ServiceMetrics:
    """This process's metrics beyond the request ones."""

    def __init__(
        self, projection_statuses: Callable[[], Awaitable[list[ProjectionStatus]]]
    ) -> None:
        """`projection_statuses` reads each projection's status for a scrape, raising
        DatabaseUnavailable when the database does not answer within a second."""
        self.registry = CollectorRegistry()
        self.events_appended = Counter(
            "resources_events_appended",
            "Events appended to the store, by type",
            ["type"],
            registry=self.registry,
        )
        self._projections = ProjectionCollector()
        self.registry.register(self._projections)
        self.feed = FeedCollector()
        self.registry.register(self.feed)
        self._projection_statuses = projection_statuses

    def count_appended(self, stored_events: Sequence[StoredEvent]) -> None:
        for stored in stored_events:
            self.events_appended.labels(stored.topic.rsplit(".", 1)[-1]).inc()

    async def exposition(self) -> bytes:
        """The text exposition: request metrics (process-wide) and ours. Projection
        figures are left out when the database does not answer within a second."""
        try:
            statuses = await self._projection_statuses()
        except DatabaseUnavailable:
            logger.warning("/metrics: projection figures left out: the database did not answer")
            statuses = []
        self._projections.statuses = statuses
        self.feed.store_head = statuses[0].head if statuses else None
        return generate_latest(REGISTRY) + generate_latest(self.registry)
