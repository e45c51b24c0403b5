"""A PostgreSQL cluster of a fault test's own, which it stops and starts with pg_ctl."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Cluster:
    def __init__(self, server: Any) -> None:
        self._server = server
        self.url: str = str(server.get_uri())

    def stop(self) -> None:
        """A fast shutdown, as a restart or failover does: sessions are cut."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        pg_ctl(
            ["-w", "-m", "fast", "stop"],
            pgdata=self._server.pgdata,
            user=self._server.system_user,
            timeout=30,
        )

    def start(self) -> None:
        self._server.ensure_postgres_running()


@contextmanager
def own_cluster() -> Iterator[Cluster]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server: Any = pgserver.get_server(
            Path(tempfile.mkdtemp(prefix="resources-fault-pg-")), cleanup_mode="delete"
        )
    try:
        yield Cluster(server)
    finally:
        server.cleanup()
