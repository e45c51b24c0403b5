"""The composition root: real adapters wired to the use cases and read models."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname
from uuid import UUID

import psycopg
from eventsourcing.postgres import PostgresDatastore

from api.database import database_url, eventsourcing_env
from api.idempotency import IdempotencyKeys
from api.keys import ApiKeys
from api.settings import Settings, SettingsError
from api.signing import UrlSigner
from application.file_blobs import FileBlobStore
from application.history import ResourceHistory
from application.ports import BlobStore
from application.resources import ResourceApplication
from domain.resource import Resource
from projections.activity import ActivityProjection, ActivityView, ResourceStates
from projections.fast_store import AsyncAppender
from projections.queries import ResourceQueries
from projections.rebuild import (
    BATCH_SIZE,
    Rebuildable,
    Rebuilder,
    RebuildProgress,
    create_state_table,
)
from projections.rebuild_targets import ActivityRebuild, ResourcesRebuild, TimelineRebuild
from projections.resources import ResourcesProjection
from projections.runner import ActivityRunner
from projections.status import ProjectionStatus, projection_status
from projections.store import RECORDER_TOPIC, ProjectingApplicationRecorder, schema_lock
from projections.timeline import TimelineProjection, TimelineQueries


def blob_store(url: str) -> BlobStore:
    parts = urlsplit(url)
    if parts.scheme == "file":
        return FileBlobStore(Path(url2pathname(parts.path)))
    raise SettingsError(f"BLOB_STORE_URL: unsupported scheme {parts.scheme!r} (use file://)")


class Services:
    """Everything a request or a command needs, built once per process."""

    def __init__(self, settings: Settings, *, pool_size: int = 10) -> None:
        self.settings = settings
        self.database_url = database_url(settings)
        env = eventsourcing_env(self.database_url, pool_size=pool_size)
        env["APPLICATION_RECORDER_TOPIC"] = RECORDER_TOPIC
        self.resources = ResourceApplication(
            env,
            blobs=blob_store(settings.blob_store_url),
            max_upload_bytes=settings.max_upload_bytes,
        )
        recorder = self.resources.recorder
        assert isinstance(recorder, ProjectingApplicationRecorder)
        recorder.project_inline(ResourcesProjection(self.resources.mapper))
        recorder.project_inline(TimelineProjection(self.resources.mapper))
        self.datastore: PostgresDatastore = recorder.datastore
        self.queries = ResourceQueries(self.datastore)
        self.timeline = TimelineQueries(self.datastore)
        self.history = ResourceHistory(self.resources)
        self.appender = AsyncAppender(
            conninfo=self.database_url,
            recorder=recorder,
            resources=ResourcesProjection(self.resources.mapper),
            timeline=TimelineProjection(self.resources.mapper),
            snapshots_table=f"{self.resources.name.lower()}_snapshots",
            pool_size=settings.database_pool_size,
        )
        self.activity = ActivityView(self.datastore)
        with schema_lock(self.datastore):
            self.activity.create_table()
            create_state_table(self.datastore)
            self.keys = ApiKeys(self.datastore)
            self.idempotency = IdempotencyKeys(self.database_url)
        self.signer = UrlSigner(settings.signing_key, settings.public_url, settings.signed_url_ttl)

    def resource_at(self, aggregate_id: UUID, version: int) -> Resource:
        found: object = self.resources.repository.get(aggregate_id, version=version)
        assert isinstance(found, Resource)
        return found

    def activity_runner(self) -> ActivityRunner:
        """A runner of the activity feed projection, on its own database session."""
        recorder = self.resources.recorder
        assert isinstance(recorder, ProjectingApplicationRecorder)
        return ActivityRunner(
            connect=lambda: psycopg.connect(self.database_url),
            recorder=recorder,
            view=self.activity,
            projection=ActivityProjection(self.resources.mapper, ResourceStates(self.resource_at)),
        )

    def rebuild_targets(self) -> dict[str, Rebuildable]:
        """The read models that can be rebuilt, by name, in the order `rebuild` runs them."""
        mapper = self.resources.mapper
        return {
            "resources": ResourcesRebuild(ResourcesProjection(mapper)),
            "timeline": TimelineRebuild(TimelineProjection(mapper)),
            "activity": ActivityRebuild(
                ActivityProjection(mapper, ResourceStates(self.resource_at)), self.activity
            ),
        }

    def rebuilder(
        self,
        target: Rebuildable,
        report: Callable[[RebuildProgress], None] = lambda _: None,
        batch_size: int = BATCH_SIZE,
    ) -> Rebuilder:
        recorder = self.resources.recorder
        assert isinstance(recorder, ProjectingApplicationRecorder)
        return Rebuilder(
            datastore=self.datastore,
            conninfo=self.database_url,
            recorder=recorder,
            target=target,
            batch_size=batch_size,
            report=report,
        )

    def projection_status(self) -> list[ProjectionStatus]:
        recorder = self.resources.recorder
        assert isinstance(recorder, ProjectingApplicationRecorder)
        return projection_status(
            recorder=recorder,
            mapper=self.resources.mapper,
            activity=self.activity,
            conninfo=self.database_url,
        )

    def close(self) -> None:
        self.idempotency.close()
        self.resources.close()
