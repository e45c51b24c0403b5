"""All configuration, read from the environment in one place."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from msgspec import Struct

MiB = 1024 * 1024
MAX_PORT = 65535
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
"""LOG_LEVEL's names, as the logging module and uvicorn both know them."""
_T = TypeVar("_T")


class SettingsError(ValueError):
    """A configuration value that cannot be used."""


class Settings(Struct, frozen=True, kw_only=True):
    database_url: str | None
    """None: an embedded PostgreSQL kept under `data_dir`. May name several hosts
    (libpq style, `target_session_attrs=read-write`), or a transaction pooler."""
    database_direct_url: str | None
    """Set when `database_url` goes through a transaction pooler (PgBouncer): the
    server itself, for what needs a session of its own (the runner's lock and
    wake-ups, rebuilds, schema changes)."""
    database_replica_url: str | None
    """Reads that may come from a replica go there (adapters.replica)."""
    replica_wait_ms: int
    """How long a read with a Session-Token waits for the replica before the primary."""
    replica_max_lag: float
    """Seconds behind beyond which the replica serves no reads."""
    data_dir: Path
    host: str
    port: int
    public_url: str
    """The base of the signed URLs handed out to clients."""
    signing_key: bytes
    blob_store_url: str
    max_upload_bytes: int
    signed_url_ttl: int
    log_level: str
    ready_max_lag_seconds: int
    """/ready answers 503 when an asynchronous projection lags more than this."""
    database_pool_size: int
    """Connections the async request path may hold (it grows to this under load)."""
    blob_store_timeout: int
    """Seconds a blob store call may take before the request answers 503."""
    min_free_disk_bytes: int
    """The file store refuses uploads (507) while its disk has less free space."""
    blob_gc_interval: int
    """Seconds between the server's garbage collections of the blob store."""
    aws: dict[str, str]
    """The standard AWS variables that are set (for an s3:// blob store)."""
    limit_concurrency: int
    """Connections and requests a server process takes at once; more are answered 503."""
    upload_idle_timeout: int
    """Seconds an upload may send nothing before it is dropped (its bytes discarded)."""
    request_head_timeout: int
    """Seconds a client may take to send a request's headers."""
    metrics_token: str | None
    """If set, /metrics asks for it as a Bearer token."""
    log_format: str | None
    """json or text; unset: JSON lines unless the output is a terminal."""
    stream_heartbeat: int
    """Seconds between the keep-alive comments of an idle event stream."""
    max_streams: int
    """Event streams a server process keeps open at once; more are answered 503."""
    stream_buffer: int
    """Events a stream may have waiting for its client; one more and it is closed."""
    cors_origins: tuple[str, ...]
    """Origins whose pages may call the API from a browser (none: no cross-origin use)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("DATA_DIR") or ".data").resolve()
        host = env.get("HOST") or "127.0.0.1"
        port = _integer(env, "PORT", 8000, maximum=MAX_PORT)
        max_streams = _integer(env, "MAX_STREAMS", 1000)
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            database_direct_url=_direct_url(env),
            database_replica_url=env.get("DATABASE_REPLICA_URL") or None,
            replica_wait_ms=_integer(env, "REPLICA_WAIT_MS", 200, minimum=0),
            replica_max_lag=_seconds(env, "REPLICA_MAX_LAG", 1.0),
            data_dir=data_dir,
            host=host,
            port=port,
            public_url=(env.get("PUBLIC_URL") or f"http://{host}:{port}").rstrip("/"),
            signing_key=_usable(data_dir, lambda: _signing_key(env.get("SIGNING_KEY"), data_dir)),
            blob_store_url=env.get("BLOB_STORE_URL") or (data_dir / "blobs").as_uri(),
            max_upload_bytes=_integer(env, "MAX_UPLOAD_BYTES", 100 * MiB),
            signed_url_ttl=_integer(env, "SIGNED_URL_TTL", 3600),
            log_level=(_choice(env, "LOG_LEVEL", LOG_LEVELS) or "info").upper(),
            ready_max_lag_seconds=_integer(env, "READY_MAX_LAG", 10),
            database_pool_size=_integer(env, "DATABASE_POOL_SIZE", 16),
            blob_store_timeout=_integer(env, "BLOB_STORE_TIMEOUT", 10),
            min_free_disk_bytes=_integer(env, "MIN_FREE_DISK_BYTES", 1024 * MiB, minimum=0),
            blob_gc_interval=_integer(env, "BLOB_GC_INTERVAL", 3600),
            aws={name: value for name, value in env.items() if name in AWS_VARIABLES and value},
            # Open streams are connections too: room for them beside the requests.
            limit_concurrency=_integer(env, "LIMIT_CONCURRENCY", 1000 + max_streams),
            upload_idle_timeout=_integer(env, "UPLOAD_IDLE_TIMEOUT", 30),
            request_head_timeout=_integer(env, "REQUEST_HEAD_TIMEOUT", 10),
            metrics_token=env.get("METRICS_TOKEN") or None,
            log_format=_choice(env, "LOG_FORMAT", ("json", "text")),
            stream_heartbeat=_integer(env, "STREAM_HEARTBEAT", 15),
            max_streams=max_streams,
            stream_buffer=_integer(env, "STREAM_BUFFER", 2000),
            cors_origins=_origins(env.get("CORS_ORIGINS") or ""),
        )


def _usable(data_dir: Path, read: Callable[[], _T]) -> _T:
    """What `read` finds under DATA_DIR; a SettingsError if the directory cannot be used."""
    try:
        return read()
    except OSError as error:
        raise SettingsError(
            f"DATA_DIR {data_dir} cannot be used: {error.strerror or error}"
            " (set DATA_DIR or --data-dir to a directory this user may write)"
        ) from None


def _direct_url(env: Mapping[str, str]) -> str | None:
    direct = env.get("DATABASE_DIRECT_URL") or None
    if direct is not None and not env.get("DATABASE_URL"):
        raise SettingsError(
            "DATABASE_DIRECT_URL names the server behind DATABASE_URL's pooler:"
            " set DATABASE_URL too (unset, the service uses its embedded PostgreSQL)"
        )
    return direct


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str | None:
    value = (env.get(name) or "").lower() or None
    if value is not None and value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _origins(raw: str) -> tuple[str, ...]:
    """CORS_ORIGINS: comma-separated origins, each scheme://host[:port] (or `*`)."""
    origins = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in origins:
        scheme, _, rest = origin.partition("://")
        if origin != "*" and (scheme not in ("http", "https") or not rest or "/" in rest):
            raise SettingsError(
                f"CORS_ORIGINS must list origins such as https://dash.example.com, not {origin!r}"
            )
    return origins


AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, not {raw!r}") from None
    if not value > 0:
        raise SettingsError(f"{name} must be more than 0 seconds, not {raw}")
    return value


def _integer(
    env: Mapping[str, str],
    name: str,
    default: int,
    *,
    minimum: int = 1,
    maximum: int | None = None,
) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, not {value}")
    return value


MIN_SIGNING_KEY_BYTES = 32


def _signing_key(configured: str | None, data_dir: Path) -> bytes:
    """The configured key, or one generated once and kept under DATA_DIR.

    A short key makes signed URLs forgeable: under 32 bytes the service refuses to
    start. The generated file appears whole or not at all (written aside, fsynced,
    then linked into place, which also lets only the first of two starting
    processes create it), and is checked on every start."""
    if configured:
        key = configured.encode()
        if len(key) < MIN_SIGNING_KEY_BYTES:
            raise SettingsError(
                f"SIGNING_KEY must be at least {MIN_SIGNING_KEY_BYTES} bytes, not {len(key)}"
                " (unset it to have one generated)"
            )
        return key
    path = data_dir / "signing.key"
    if not path.exists():
        _create_key_file(path)
    key = path.read_text().strip().encode()
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise SettingsError(
            f"the signing key in {path} is {len(key)} bytes, fewer than {MIN_SIGNING_KEY_BYTES}:"
            " it is damaged. Remove it to have a new one generated (signed URLs handed out"
            " so far stop working), or set SIGNING_KEY."
        )
    return key


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        with contextlib.suppress(FileExistsError):  # another process was first: use its key
            os.link(temporary, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        os.unlink(temporary)
