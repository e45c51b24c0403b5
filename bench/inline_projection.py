"""How much the inline `resources` projection adds to an append.

Times sequential renames through the application twice on the same database:
with the projection applied inside the append's transaction, and with a plain
recorder that only appends (the read model would then need an asynchronous
projection, and a reader that wants its own write would wait for it: the
library's `wait()` polls from 100 ms).

Run: DATABASE_URL=postgresql://... .venv/bin/python bench/inline_projection.py
(without DATABASE_URL, an embedded PostgreSQL under a temporary folder).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from api.database import database_url, eventsourcing_env
from api.services import blob_store
from api.settings import Settings
from application.commands import RegisterResource, UpdateResource
from application.resources import ResourceApplication
from projections.resources import ResourcesProjection
from projections.store import RECORDER_TOPIC, ProjectingApplicationRecorder

RESOURCES = 100
RENAMES = 2000


def timed_renames(app: ResourceApplication, label: str) -> list[float]:
    ids = [
        app.register(RegisterResource(project_id=1, actor="bench", name="f")).resource_id
        for _ in range(RESOURCES)
    ]
    latencies = []
    for number in range(RENAMES):
        started = time.perf_counter()
        app.update(
            UpdateResource(
                project_id=1, actor="bench", resource_id=ids[number % RESOURCES], name=f"n{number}"
            )
        )
        latencies.append((time.perf_counter() - started) * 1000)
    print(
        f"{label:<34} mean {statistics.mean(latencies):.2f} ms   "
        f"p50 {statistics.median(latencies):.2f} ms   "
        f"p99 {statistics.quantiles(latencies, n=100)[98]:.2f} ms"
    )
    return latencies


def main() -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    env_vars = {"DATA_DIR": str(data_dir), "SIGNING_KEY": "bench"}
    if os.environ.get("DATABASE_URL"):
        env_vars["DATABASE_URL"] = os.environ["DATABASE_URL"]
    settings = Settings.from_env(env_vars)
    env = eventsourcing_env(database_url(settings), pool_size=2)
    blobs = blob_store(settings.blob_store_url)

    plain = ResourceApplication({**env, "CREATE_TABLE": "y"}, blobs=blobs, max_upload_bytes=1 << 30)
    timed_renames(plain, "append only (no read model)")
    plain.close()

    inline = ResourceApplication(
        {**env, "APPLICATION_RECORDER_TOPIC": RECORDER_TOPIC},
        blobs=blobs,
        max_upload_bytes=1 << 30,
    )
    recorder = inline.recorder
    assert isinstance(recorder, ProjectingApplicationRecorder)
    recorder.project_inline(ResourcesProjection(inline.mapper))
    timed_renames(inline, "append + inline read model")
    inline.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
