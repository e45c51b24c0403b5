"""A PostgreSQL cluster of the bench's own, on which every WAL flush waits ~1 ms.

`commit_delay` makes the backend that flushes the WAL sleep that long (holding the
flush lock) before it writes, and `commit_siblings=0` makes it do so on every
flush: each commit waits about a millisecond longer, as on a cloud volume or with
a synchronous standby, and every commit that arrives meanwhile rides the same
flush. The cluster is made with `initdb` and started with `pg_ctl` (the binaries
of `pg_config --bindir`, else pgserver's) in a temporary directory, on a free
loopback port; it is stopped and its directory removed when the block ends.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.common import free_port

ONE_MS_FLUSH = (
    "-c commit_delay=1000 -c commit_siblings=0 -c fsync=on -c synchronous_commit=on"
    " -c max_connections=200 -c shared_buffers=256MB"
)
"""The settings that make each WAL flush wait ~1 ms (commit_delay is in µs)."""


def bindir() -> Path:
    """Where initdb, pg_ctl and pgbench are: `pg_config --bindir`, else pgserver's."""
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
        return Path(found.stdout.strip())
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _cluster_user() -> str | None:
    """The user the cluster runs as: PostgreSQL refuses root, so root hands it to
    `postgres`; anyone else runs it as themselves (None)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        msg = "running as root, and there is no postgres user to own a cluster"
        raise RuntimeError(msg) from None
    return "postgres"


@contextmanager
def private_cluster(settings: str = ONE_MS_FLUSH) -> Iterator[str]:
    """Runs a new cluster with `settings` until the block ends; yields its URL."""
    binaries = bindir()
    user = _cluster_user()
    home = Path(tempfile.mkdtemp(prefix="bench-flush-pg-"))
    data, log = home / "data", home / "server.log"
    if user is not None:
        shutil.chown(home, user=user)
    port = free_port()
    initdb = [str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        subprocess.run(
            [*initdb, "--no-sync", "--no-instructions"],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=True,
        )
        options = (
            f"{settings} -c port={port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={home}"
        )
        # pg_ctl's output goes to files, not pipes: the server it leaves running
        # would hold a pipe open, and waiting for the pipe to close would never end.
        started = True
        subprocess.run(
            [*pg_ctl, "-l", str(log), "-o", options, "-w", "-t", "60", "start"],
            user=user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=True,
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                [*pg_ctl, "-m", "fast", "-w", "stop"],
                user=user,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
        shutil.rmtree(home, ignore_errors=True)
