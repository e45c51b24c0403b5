"""Real PostgreSQL clusters (a primary and its standbys) and a PgBouncer before them,
for the failover, read-replica and pooler tests and the deployment rehearsal.

What a failover does to the service only shows against real servers: a primary that
dies mid-stream, a standby promoted onto a new timeline, a replica and a pooler moved
over to it. So every node here is made with PostgreSQL's own tools (`initdb`, or
`pg_basebackup` from the primary, then `pg_ctl`) in a temporary directory, on a free
loopback port with trust authentication, and is stopped, or killed, and removed when
its block ends. Durability stays at PostgreSQL's defaults (fsync on, synchronous
commit): only the one-off copies that initdb and pg_basebackup make skip their fsync.

PostgreSQL and PgBouncer refuse to run as root, so under root they run as the
`postgres` system user (through `setpriv`, which execs: a PID we hold is the
server's own), in directories that user owns.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import psycopg
from psycopg import sql

TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "postgres")
POSTGRES_MISSING = (
    "no PostgreSQL binaries: neither `pg_config --bindir` nor pgserver's pginstall/bin"
    " holds initdb, pg_ctl, pg_basebackup and postgres"
)
PGBOUNCER_MISSING = "no pgbouncer: neither on PATH nor at /usr/sbin/pgbouncer"

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "wal_level": "replica",
    "max_wal_senders": "10",
    "max_replication_slots": "10",
    "wal_keep_size": "'256MB'",  # a replica repointed after a failover still finds its WAL
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "synchronous_commit": "on",
    # Standbys report every second, and a silent peer is cut within 5 s (1 s would cut a
    # standby merely busy flushing); a lost primary is retried every 250 ms, not 5 s.
    "wal_receiver_status_interval": "'1s'",
    "wal_sender_timeout": "'5s'",
    "wal_receiver_timeout": "'5s'",
    "wal_retrieve_retry_interval": "'250ms'",
    "max_connections": "200",
    "shared_buffers": "'32MB'",
}
"""The primary's settings, which pg_basebackup copies to every standby."""

HBA = """\
local all all trust
host all all 127.0.0.1/32 trust
local replication all trust
host replication all 127.0.0.1/32 trust
"""


@functools.cache
def postgres_binaries() -> Path | None:
    """The directory of initdb, pg_ctl, pg_basebackup and postgres: the machine's
    (`pg_config --bindir`), else those bundled with pgserver; None if neither has them
    (Debian's libpq-dev brings a pg_config that names a bindir without a server)."""
    candidates = []
    if (pg_config := shutil.which("pg_config")) is not None:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(found.stdout.strip()))
    if (spec := importlib.util.find_spec("pgserver")) is not None and spec.origin is not None:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    return next((d for d in candidates if all((d / t).is_file() for t in TOOLS)), None)


def pgbouncer_binary() -> Path | None:
    """PgBouncer's executable; Debian puts it in /usr/sbin, often not on PATH."""
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    return Path(found) if os.access(found, os.X_OK) else None


def free_port() -> int:
    """A loopback port no one listens on now (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _server_user() -> pwd.struct_passwd | None:
    """Whom the servers run as: None (ourselves); as root, which PostgreSQL and
    PgBouncer refuse, `postgres`, else the `pgserver` user that the embedded server
    makes for itself the same way (useradd) on a machine without PostgreSQL."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        with warnings.catch_warnings():  # pgserver's platformdirs, without XDG_RUNTIME_DIR
            warnings.simplefilter("ignore")
            from pgserver.utils import ensure_user_exists

        found: pwd.struct_passwd | None = ensure_user_exists("pgserver")
        if found is None:
            raise RuntimeError("running as root, and no user to run PostgreSQL as") from None
        return found


def _own_dir(path: Path, user: pwd.struct_passwd | None) -> Path:
    """Makes `path` a directory of the server user's (0700 if new, as initdb wants)."""
    path.mkdir(mode=0o700, exist_ok=True)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)
    return path


def _run_as(user: pwd.struct_passwd | None, argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment that run `argv` as `user`."""
    if user is None:
        return argv, dict(os.environ)
    setpriv = ["setpriv", f"--reuid={user.pw_name}", f"--regid={user.pw_gid}", "--init-groups"]
    return [*setpriv, "--", *argv], {**os.environ, "HOME": user.pw_dir}


def _run(user: pwd.struct_passwd | None, argv: list[str], timeout: float = 90) -> None:
    """Runs a tool to its end, raising with its output if it fails. The output goes to
    a file, not a pipe: a server that `pg_ctl start` leaves running keeps its fds."""
    command, env = _run_as(user, argv)
    with tempfile.TemporaryFile() as out:
        done = subprocess.run(command, stdout=out, stderr=out, cwd="/", env=env, timeout=timeout)
        out.seek(0)
        if done.returncode != 0:
            text = out.read().decode(errors="replace").strip()
            raise RuntimeError(f"{Path(argv[0]).name} {argv[1:]} failed: {text}")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no {path})"


def _alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie no one has reaped yet counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rpartition(")")[2].split()[1]) == pid:
                children.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # it ended while we looked
    return children


def _wait(done: Callable[[], object], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(failure)
        time.sleep(0.05)


def _fetch(url: str, query: str, params: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(query, params).fetchone()


def _write_settings(path: Path, settings: dict[str, str]) -> None:
    """Appends to a configuration file: PostgreSQL takes a setting's last line."""
    with path.open("a") as conf:
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())


def _conninfo(primary: Node, name: str) -> str:
    return f"host=127.0.0.1 port={primary.port} user=postgres application_name={name}"


class Node:
    """One PostgreSQL server: its directory holds the data directory, the log and the
    Unix socket (not /var/run/postgresql, which another cluster may use)."""

    def __init__(self, name: str, home: Path, user: pwd.struct_passwd | None, bindir: Path) -> None:
        self.name, self.home, self._user, self._bindir = name, home, user, bindir
        self.port = free_port()
        self.pgdata = home / "data"
        self.log_path = home / "server.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def __repr__(self) -> str:
        return f"Node({self.name!r}, port={self.port})"

    def _pg_ctl(self, *args: str) -> None:
        _run(self._user, [str(self._bindir / "pg_ctl"), "-D", str(self.pgdata), *args])

    def local_settings(self) -> dict[str, str]:
        return {"port": str(self.port), "unix_socket_directories": f"'{self.home}'"}

    @property
    def pid(self) -> int | None:
        """The postmaster's PID (from postmaster.pid), None when it does not run."""
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self) -> None:
        try:
            self._pg_ctl("-l", str(self.log_path), "-w", "-t", "60", "start")
        except RuntimeError as error:
            msg = f"{self.name} did not start: {error}\n{self.log_path}:\n{_tail(self.log_path)}"
            raise RuntimeError(msg) from None

    def stop(self, mode: str = "fast") -> None:
        """Stops the server (`pg_ctl stop -m mode`), killing it if that fails."""
        if self.pid is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._pg_ctl("-m", mode, "-w", "-t", "30", "stop")
        self.kill()  # does nothing once the server is down

    def kill(self) -> None:
        """SIGKILLs the postmaster and its children, as when the machine dies: no
        shutdown checkpoint, no goodbye to the standbys. It is stopped first, so that
        it forks no child we would miss."""
        pid = self.pid
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
        family = [pid, *_children(pid)]
        for member in family:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, signal.SIGKILL)
        _wait(lambda: not any(map(_alive, family)), 10, f"{self.name} outlived SIGKILL")

    def promote(self) -> None:
        """Ends recovery: the standby becomes a primary on a new timeline."""
        self._pg_ctl("-w", "-t", "60", "promote")

    def is_in_recovery(self) -> bool:
        row = _fetch(self.url, "SELECT pg_is_in_recovery()")
        return bool(row and row[0])


class Cluster:
    """A primary (made on entering) and the standbys `add_standby` copies from it,
    all stopped and removed on exit. `sync` is whether a standby is synchronous unless
    told otherwise. After a failover, `promote` makes a standby the primary."""

    def __init__(self, base_dir: Path | None = None, sync: bool = True) -> None:
        self.sync = sync
        self._base_dir = base_dir
        self.nodes: list[Node] = []
        self._sync_names: list[str] = []

    def __enter__(self) -> Self:
        bindir = postgres_binaries()
        if bindir is None:
            raise RuntimeError(POSTGRES_MISSING)
        self._bindir, self._user = bindir, _server_user()
        self.home = Path(tempfile.mkdtemp(prefix="pg-cluster-", dir=self._base_dir))
        self.home.chmod(0o755)  # the server user reaches its node directories through it
        try:
            self.primary = self._node("primary")
            initdb = [str(bindir / "initdb"), "-D", str(self.primary.pgdata), "-U", "postgres"]
            options = ["--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
            _run(self._user, [*initdb, *options, "--no-instructions"])
            _write_settings(self.primary.pgdata / "postgresql.conf", SETTINGS)
            _write_settings(self.primary.pgdata / "postgresql.conf", self.primary.local_settings())
            (self.primary.pgdata / "pg_hba.conf").write_text(HBA)
            self.primary.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for node in reversed(self.nodes):  # standbys first: the primary waits for none
            node.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def _node(self, name: str) -> Node:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name) or name in {n.name for n in self.nodes}:
            raise ValueError(f"a node's name is a new lowercase identifier, not {name!r}")
        node = Node(name, _own_dir(self.home / name, self._user), self._user, self._bindir)
        self.nodes.append(node)
        return node

    def add_standby(self, name: str, synchronous: bool | None = None) -> Node:
        """A hot standby copied from the primary, streaming from it (as `name`) when
        this returns; once synchronous, the primary's commits wait for its flush."""
        node = self._node(name)
        basebackup = [str(self._bindir / "pg_basebackup"), "-h", "127.0.0.1"]
        source = ["-p", str(self.primary.port), "-U", "postgres", "-D", str(node.pgdata)]
        _run(self._user, [*basebackup, *source, "-X", "stream", "-R", "-c", "fast", "--no-sync"])
        _write_settings(node.pgdata / "postgresql.conf", node.local_settings())
        # The copy has the primary's ALTER SYSTEM lines: promoted, it must wait for no one.
        conninfo = f"'{_conninfo(self.primary, name)}'"
        auto = {"primary_conninfo": conninfo, "synchronous_standby_names": "''"}
        _write_settings(node.pgdata / "postgresql.auto.conf", auto)
        node.start()
        if self.sync if synchronous is None else synchronous:
            self._sync_names.append(name)
            names = f"FIRST 1 ({', '.join(self._sync_names)})"
            self._alter_system(self.primary, "synchronous_standby_names", names)
            self._wait_streaming(self.primary, name, "sync" if len(self._sync_names) == 1 else None)
        else:
            self._wait_streaming(self.primary, name)
        return node

    def promote(self, standby: Node) -> None:
        """Promotes `standby` and makes it the cluster's primary (kill or stop the old
        one first). Its synchronous_standby_names is empty: no commit waits for a
        standby until `add_standby` makes one synchronous again."""
        standby.promote()
        self.primary, self._sync_names = standby, []

    def repoint(self, replica: Node, new_primary: Node) -> None:
        """Makes `replica` stream from `new_primary` (a promoted standby): it follows
        the new timeline, as recovery_target_timeline is 'latest' by default."""
        self._alter_system(replica, "primary_conninfo", _conninfo(new_primary, replica.name))
        self._wait_streaming(new_primary, replica.name)

    @staticmethod
    def _alter_system(node: Node, name: str, value: str) -> None:
        with psycopg.connect(node.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.SQL(name), sql.Literal(value))
            )
            conn.execute("SELECT pg_reload_conf()")

    @staticmethod
    def _wait_streaming(primary: Node, name: str, state: str | None = None) -> None:
        query = "SELECT sync_state FROM pg_stat_replication WHERE application_name = %s"
        query += " AND state = 'streaming'"

        def streaming() -> bool:
            row = _fetch(primary.url, query, (name,))
            return row is not None and state in (None, row[0])

        _wait(streaming, 30, f"{name} is not streaming ({state or 'any'}) from {primary.name}")


class PgBouncer:
    """PgBouncer in transaction pooling mode before one server, as in production:
    no startup `options` (1.18 refuses them), no server reset between transactions.
    `retarget` moves it to another server, as a failover does."""

    def __init__(self, server_port: int, base_dir: Path | None = None) -> None:
        self.server_port = server_port
        self.port = free_port()
        self._base_dir = base_dir
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        binary = pgbouncer_binary()
        if binary is None:
            raise RuntimeError(PGBOUNCER_MISSING)
        user = _server_user()
        self.home = _own_dir(Path(tempfile.mkdtemp(prefix="pgbouncer-", dir=self._base_dir)), user)
        self.log_path, self._ini = self.home / "pgbouncer.log", self.home / "pgbouncer.ini"
        (self.home / "users.txt").write_text('"postgres" ""\n')
        self._write_ini()
        command, env = _run_as(user, [str(binary), str(self._ini)])
        try:
            with (self.home / "stderr.log").open("wb") as out:
                self.process = subprocess.Popen(command, stdout=out, stderr=out, cwd="/", env=env)
            _wait(self._accepts, 15, f"pgbouncer does not listen on {self.port}")
        except Exception as error:
            output = _tail(self.home / "stderr.log") + "\n" + _tail(self.log_path)
            self.__exit__()
            raise RuntimeError(f"pgbouncer did not start: {error}\n{output}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()  # SIGTERM: immediate shutdown
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.home, ignore_errors=True)

    def _accepts(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("pgbouncer exited")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def _write_ini(self) -> None:
        self._ini.write_text(
            f"[databases]\n* = host=127.0.0.1 port={self.server_port}\n\n[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\n"
            f"unix_socket_dir = {self.home}\nauth_type = trust\n"
            f"auth_file = {self.home / 'users.txt'}\nadmin_users = postgres\n"
            "pool_mode = transaction\nmax_client_conn = 1000\ndefault_pool_size = 20\n"
            "server_reset_query =\nignore_startup_parameters = extra_float_digits\n"
            # A failed login to a dead server is retried after 1 s, not 15.
            "server_login_retry = 1\nserver_connect_timeout = 5\n"
            f"logfile = {self.log_path}\npidfile = {self.home / 'pgbouncer.pid'}\n"
        )

    def url_for(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def retarget(self, server_port: int) -> None:
        """Points every database at another server: the admin console's RELOAD
        answers once the file is re-read (a SIGHUP would leave that unknown). The
        server connections to the old one are closed as they are released."""
        self.server_port = server_port
        self._write_ini()
        with psycopg.connect(
            self.url_for("pgbouncer"), autocommit=True, connect_timeout=5
        ) as admin:
            admin.execute("RELOAD")
