"""The composition root: real adapters wired to the use cases and read models."""

from __future__ import annotations

import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from urllib.request import url2pathname

import anyio
import anyio.to_thread
from anyio.from_thread import BlockingPortal, start_blocking_portal
from eventsourcing.postgres import PostgresDatastore

from adapters.activity_reads import PostgresActivityReads
from adapters.caching_store import CachingResourceStore
from adapters.database import (
    Database,
    connector,
    database_answers,
    database_errors,
    database_url,
    eventsourcing_env,
    pooled_role_defaults,
    use_for_library,
)
from adapters.event_history import PostgresEventHistory
from adapters.event_store import RECORDER_TOPIC, ResourceEvents
from adapters.file_blobs import FileBlobStore
from adapters.keys import ApiKeys
from adapters.read_models.activity import ActivityProjection, ActivityView
from adapters.read_models.rebuild import BATCH_SIZE, Rebuildable, Rebuilder, RebuildProgress
from adapters.read_models.rebuild_targets import ActivityRebuild, ResourcesRebuild, TimelineRebuild
from adapters.read_models.resources import ResourcesProjection
from adapters.read_models.runner import ActivityRunner
from adapters.read_models.status import projection_status
from adapters.read_models.timeline import TimelineProjection
from adapters.resource_store import PostgresResourceStore, Replica
from adapters.s3_blobs import S3BlobStore, s3_store
from adapters.schema import create_schema
from api.composition.settings import Settings, SettingsError
from api.composition.signing import ContentLinks, UrlSigner
from api.observability.logs import bind_principal
from application.access import Caller
from application.commands import DeleteResource, RegisterResource, UpdateResource
from application.errors import DatabaseUnavailable
from application.history import HistoryPage, ResourceHistory
from application.ports import ActivityReads, BlobStore, Outcome
from application.service import ResourceService
from domain.resource import Resource
from projections.activity import ActivityFilter, ActivityPage, ResourceStates
from projections.shapes import TableShape
from projections.status import ProjectionStatus

T = TypeVar("T")
logger = logging.getLogger(__name__)

READ_SECONDS = 2.0
"""How long a request's synchronous read may take before it answers 503."""


def blob_store(settings: Settings) -> BlobStore:
    url = settings.blob_store_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        root = Path(url2pathname(parts.path))
        return FileBlobStore(root, min_free_bytes=settings.min_free_disk_bytes)
    if parts.scheme == "s3":
        if not parts.netloc:
            raise SettingsError("BLOB_STORE_URL: name the bucket, as in s3://bucket/prefix")
        timeout = settings.blob_store_timeout
        store = s3_store(url, settings.aws, timeout)
        return S3BlobStore(store, timeout_seconds=timeout)
    raise SettingsError(
        f"BLOB_STORE_URL: unsupported scheme {parts.scheme!r} (use file:// or s3://)"
    )


class Services:
    """Everything a request or a command needs, built once per process.

    Building it runs the schema step (creating what is missing, migrating an old
    read model by a rebuild). The resource service runs on async I/O: a server
    builds one in its event loop (`resource_service`); a command or a test that is
    not async calls one through `blocking()`.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        pool_size: int = 10,
        projection: type[ResourcesProjection] = ResourcesProjection,
    ) -> None:
        self.settings = settings
        self.database = Database(
            database_url(settings.database_url, settings.data_dir), settings.database_direct_url
        )
        self.database_url = self.database.direct
        """Where sessions of their own go (the schema step, rebuilds, the runner)."""
        env = eventsourcing_env(self.database_url, pool_size=pool_size)
        env["APPLICATION_RECORDER_TOPIC"] = RECORDER_TOPIC
        self.events = ResourceEvents(env)
        self.datastore: PostgresDatastore = self.events.projecting_recorder.datastore
        use_for_library(self.datastore, self.database_url)
        self._projection = projection
        self.blobs = blob_store(settings)
        self.activity = ActivityView(self.datastore)
        self.keys = ApiKeys(self.datastore)
        self.signer = UrlSigner(settings.signing_key, settings.public_url, settings.signed_url_ttl)
        self.links = ContentLinks(self.signer, self.blobs, settings.signed_url_ttl)
        mapper = self.events.mapper
        if self.database.pooled:
            changed = pooled_role_defaults(self.database.url)
            if changed:
                logger.warning(
                    "set the request path's %s on DATABASE_URL's role in its database"
                    " (a transaction pooler carries no session settings)",
                    ", ".join(changed),
                )
        create_schema(
            conninfo=self.database_url,
            events=self.events,
            resources=projection(mapper),
            timeline=TimelineProjection(mapper),
            activity=self.activity,
            migrate=self._migrate,
        )

    def _migrate(self, shape: TableShape) -> None:
        """A newer projection version: rebuild aside and swap, keeping the rows' changes."""
        self.rebuilder(self.rebuild_targets()[shape.name]).run(accept_changes=True)

    def resource_service(self) -> tuple[ResourceService, PostgresResourceStore]:
        """A resource service and its store, to be opened in the loop that will use it."""
        mapper = self.events.mapper
        store = PostgresResourceStore(
            conninfo=self.database.url,
            pooled=self.database.pooled,
            recorder=self.events.projecting_recorder,
            mapper=mapper,
            resources=self._projection(mapper),
            timeline=TimelineProjection(mapper),
            snapshots_table=self._snapshots_table,
            pool_size=self.settings.database_pool_size,
            replica=self._replica(),
        )
        store.on_connection_lost.append(self._check_connections)
        service = ResourceService(
            store=CachingResourceStore(store),
            ids=store,
            outcomes=store,
            blobs=self.blobs,
            max_upload_bytes=self.settings.max_upload_bytes,
            on_principal=bind_principal,
        )
        return service, store

    def _replica(self) -> Replica | None:
        url = self.settings.database_replica_url
        if url is None:
            return None
        wait = self.settings.replica_wait_ms / 1000
        return Replica(conninfo=url, max_lag=self.settings.replica_max_lag, wait=wait)

    def resource_history(self, store: PostgresResourceStore) -> ResourceHistory:
        """History and time travel, read on `store`'s pool (in the loop that uses it)."""
        return ResourceHistory(
            PostgresEventHistory(
                store,
                self.events.mapper,
                events_table=self.events.projecting_recorder.events_table_name,
                snapshots_table=self._snapshots_table,
            ),
            on_principal=bind_principal,
        )

    @property
    def _snapshots_table(self) -> str:
        return f"{self.events.name.lower()}_snapshots"

    @contextmanager
    def blocking(self) -> Iterator[BlockingResources]:
        """The resource service for callers that are not async, on a loop of its own."""
        with start_blocking_portal() as portal:
            service, store = self.resource_service()
            portal.call(store.open)
            try:
                yield BlockingResources(
                    portal,
                    service,
                    PostgresActivityReads(store, self.activity),
                    self.resource_history(store),
                )
            finally:
                portal.call(store.close)

    def activity_runner(self) -> ActivityRunner:
        """A runner of the activity feed projection, on its own database session."""
        return ActivityRunner(
            connect=connector(self.database_url),
            recorder=self.events.projecting_recorder,
            view=self.activity,
            projection=ActivityProjection(
                self.events.mapper, ResourceStates(self.events.resource_at)
            ),
        )

    def rebuild_targets(self) -> dict[str, Rebuildable]:
        """The read models that can be rebuilt, by name, in the order `rebuild` runs them."""
        mapper = self.events.mapper
        return {
            "resources": ResourcesRebuild(self._projection(mapper)),
            "timeline": TimelineRebuild(TimelineProjection(mapper)),
            "activity": ActivityRebuild(
                ActivityProjection(mapper, ResourceStates(self.events.resource_at)), self.activity
            ),
        }

    def rebuilder(
        self,
        target: Rebuildable,
        report: Callable[[RebuildProgress], None] = lambda _: None,
        batch_size: int = BATCH_SIZE,
        stop: threading.Event | None = None,
    ) -> Rebuilder:
        return Rebuilder(
            datastore=self.datastore,
            conninfo=self.database_url,
            recorder=self.events.projecting_recorder,
            target=target,
            batch_size=batch_size,
            report=report,
            stop=stop,
        )

    def _check_connections(self) -> None:
        """Drops the dead connections of the synchronous pool (in the background: it
        blocks): after a database restart they would each cost a read its retries."""
        threading.Thread(target=self.datastore.pool.check, daemon=True).start()

    def database_answers(self) -> None:
        """Raises unless the database answers."""
        database_answers(self.datastore)

    async def read(
        self, function: Callable[..., T], *args: Any, seconds: float = READ_SECONDS
    ) -> T:
        """A synchronous read (on the library's datastore: the projections' status) in a
        worker thread, answered within `seconds`: DatabaseUnavailable when the database
        does not answer in time (the thread finishes on its own)."""

        def bounded() -> T:
            with database_errors():
                return function(*args)

        try:
            with anyio.fail_after(seconds):
                return await anyio.to_thread.run_sync(bounded, abandon_on_cancel=True)
        except TimeoutError:
            raise DatabaseUnavailable(f"no answer within {seconds} s") from None

    def projection_status(self) -> list[ProjectionStatus]:
        return projection_status(
            recorder=self.events.projecting_recorder,
            mapper=self.events.mapper,
            activity=self.activity,
            conninfo=self.database_url,
        )

    def close(self) -> None:
        self.events.close()


class BlockingResources:
    """Calls into a resource service running on a portal's loop, from plain threads."""

    def __init__(
        self,
        portal: BlockingPortal,
        service: ResourceService,
        activity: ActivityReads,
        history: ResourceHistory,
    ) -> None:
        self._portal = portal
        self.service = service
        self.activity = activity
        self.history = history

    def activity_page(
        self, project_id: int, where: ActivityFilter, page: int, per_page: int
    ) -> ActivityPage:
        return self._portal.call(self.activity.page, project_id, where, page, per_page)

    def history_page(
        self, caller: Caller, resource_id: int, page: int, per_page: int
    ) -> HistoryPage:
        return self._portal.call(self.history.page, caller, resource_id, page, per_page)

    def at_version(self, caller: Caller, resource_id: int, version: int) -> Resource:
        return self._portal.call(self.history.at_version, caller, resource_id, version)

    def register(self, caller: Caller, command: RegisterResource) -> Outcome:
        return self._portal.call(self.service.register, caller, command)

    def update(self, caller: Caller, command: UpdateResource) -> Outcome:
        return self._portal.call(self.service.update, caller, command)

    def delete(self, caller: Caller, command: DeleteResource) -> None:
        self._portal.call(self.service.delete, caller, command)

    def call(self, function: Callable[..., Awaitable[T]], *args: Any) -> T:
        return self._portal.call(function, *args)
