"""The composition root: real adapters wired to the use cases and read models."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from eventsourcing.postgres import PostgresDatastore

from api.database import database_url, eventsourcing_env
from api.keys import ApiKeys
from api.settings import Settings, SettingsError
from api.signing import UrlSigner
from application.file_blobs import FileBlobStore
from application.history import ResourceHistory
from application.ports import BlobStore
from application.resources import ResourceApplication
from projections.queries import ResourceQueries
from projections.resources import ResourcesProjection
from projections.store import RECORDER_TOPIC, ProjectingApplicationRecorder
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
        env = eventsourcing_env(database_url(settings), pool_size=pool_size)
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
        self.keys = ApiKeys(self.datastore)
        self.signer = UrlSigner(settings.signing_key, settings.public_url, settings.signed_url_ttl)

    def close(self) -> None:
        self.resources.close()
