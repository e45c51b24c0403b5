"""The `resources` command line: serve, and manage API keys."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType

from adapters.database import UNREACHABLE, database_url, described, malformed
from adapters.read_models.rebuild import BATCH_SIZE, RebuildBusy, RebuildStopped, VerificationFailed
from api.cli.progress import RebuildDisplay
from api.cli.supervision import RunnerSupervisor, watch_parent
from api.composition.services import Services
from api.composition.settings import MAX_PORT, Settings, SettingsError
from api.composition.version import package_version
from api.http.parameters import MAX_ID, whole_in
from api.observability.logs import configure as configure_logging
from application.errors import BlobStoreUnavailable
from application.service import ResourceService

REBUILDABLE = ("resources", "timeline", "activity")

FIRST_PROJECT = 1
FIRST_USER = "local-user"

DEFAULT_DATA_DIR = ".data"
"""As in Settings.from_env: DATA_DIR, else .data in the working directory."""

CREATES_DATABASE = {("serve", None), ("keys", "create")}
"""The commands that may start a new embedded database; every other one needs an
existing one, so that run from the wrong directory it says so instead of
answering from (or garbage-collecting against) a new, empty database."""


def _parser() -> argparse.ArgumentParser:
    # --data-dir is accepted before the command and after it; SUPPRESS keeps a
    # subcommand's default from overwriting a value given before it.
    where = argparse.ArgumentParser(add_help=False)
    where.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        metavar="PATH",
        help="where the embedded database, signing key and blobs are kept"
        " (default: DATA_DIR or ./.data)",
    )
    parser = argparse.ArgumentParser(
        prog="resources", description="The Resource service.", parents=[where]
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    # `serve` starts its projection runner with it: the server has said where the data is.
    parser.add_argument("--quiet-location", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API", parents=[where])
    serve.add_argument("--host", help="address to listen on (default: HOST or 127.0.0.1)")
    serve.add_argument(
        "--port", type=_whole(1, MAX_PORT), help="port to listen on (default: PORT or 8000)"
    )
    serve.add_argument(
        "--workers", type=_whole(1, 256), default=1, help="worker processes (default: 1)"
    )
    serve.add_argument(
        "--no-projections",
        action="store_true",
        help="do not start the asynchronous projection runner beside the server",
    )

    projections = commands.add_parser(
        "projections", help="asynchronous projections"
    ).add_subparsers(dest="projections_command", required=True)
    projections.add_parser(
        "run",
        help="run the asynchronous projections (one active runner, others stand by)",
        parents=[where],
    )
    projections.add_parser(
        "status", help="each projection's position, lag, runner and rebuild", parents=[where]
    )
    rebuild = projections.add_parser(
        "rebuild",
        help="rebuild read models aside from the events, then swap them in",
        parents=[where],
    )
    rebuild.add_argument(
        "name", nargs="?", choices=REBUILDABLE, help="one projection (default: all of them)"
    )
    rebuild.add_argument(
        "--accept-changes",
        action="store_true",
        help="swap even if the rebuilt rows differ from the live ones (after a projection fix)",
    )
    rebuild.add_argument(
        "--restart", action="store_true", help="discard an unfinished rebuild and start over"
    )
    rebuild.add_argument("--batch-size", type=int, default=BATCH_SIZE, help=argparse.SUPPRESS)

    blobs = commands.add_parser("blobs", help="the blob store").add_subparsers(
        dest="blobs_command", required=True
    )
    blobs.add_parser(
        "gc",
        help="remove uploads never confirmed and bytes of deleted resources"
        " (nothing younger than SIGNED_URL_TTL)",
        parents=[where],
    )

    keys = commands.add_parser("keys", help="manage project API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser(
        "create", help="create a key; prints it once, on the last line", parents=[where]
    )
    create.add_argument("--project-id", type=_whole(1, MAX_ID), required=True)
    create.add_argument("--user", required=True, help="the user id the key acts for")
    keys.add_parser("list", help="one key per line, id first; never the secret", parents=[where])
    revoke = keys.add_parser("revoke", help="revoke a key at once", parents=[where])
    revoke.add_argument("id", type=_whole(1, MAX_ID))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    data_dir = _data_dir(getattr(args, "data_dir", None))
    configured = bool(os.environ.get("DATABASE_URL"))
    subcommand = getattr(args, f"{args.command}_command", None)
    embedded = data_dir / "postgres"
    if (
        not configured
        and (args.command, subcommand) not in CREATES_DATABASE
        and not (embedded / "PG_VERSION").is_file()
    ):
        print(
            f"resources: no database at {embedded} (set DATA_DIR or --data-dir, or DATABASE_URL)",
            file=sys.stderr,
        )
        return 1
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"resources: {error}", file=sys.stderr)
        return 2
    for name, url in (
        ("DATABASE_URL", settings.database_url),
        ("DATABASE_DIRECT_URL", settings.database_direct_url),
        ("DATABASE_REPLICA_URL", settings.database_replica_url),
    ):
        problem = malformed(url)
        if problem is not None:
            print(
                f"resources: {name} must be a PostgreSQL URL such as"
                f" postgresql://user:password@host:5432/dbname ({problem})",
                file=sys.stderr,
            )
            return 2
    configure_logging(settings.log_level, settings.log_format)
    if not args.quiet_location:
        database = "DATABASE_URL" if configured else "embedded PostgreSQL"
        print(f"resources: data in {settings.data_dir} ({database})", file=sys.stderr, flush=True)
    try:
        return _command(settings, args)
    except SettingsError as error:
        print(f"resources: {error}", file=sys.stderr)
        return 2
    except UNREACHABLE as error:
        print(
            f"resources: the database cannot be reached ({described(settings.database_url)}):"
            f" {error}",
            file=sys.stderr,
        )
        return 1


def _command(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers, not args.no_projections)
    services = Services(settings, pool_size=2)
    try:
        if args.command == "projections":
            if args.projections_command == "status":
                return _status(services)
            if args.projections_command == "rebuild":
                return _rebuild(services, args)
            return _run_projections(services)
        if args.command == "blobs":
            return _collect_garbage(services)
        return _keys(services, args)
    finally:
        services.close()


def _whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def parse(text: str) -> int:
        number = whole_in(text, low, high)
        if number is None:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}")
        return number

    return parse


def _data_dir(option: str | None) -> Path:
    """The data directory, absolute: --data-dir, else DATA_DIR, else ./.data.

    The option, when given, is put in DATA_DIR (absolute), so the settings and
    every process this one starts (server workers, the projection runner) use it.
    """
    if option is None:
        return Path(os.environ.get("DATA_DIR") or DEFAULT_DATA_DIR).resolve()
    path = Path(option).expanduser().resolve()
    os.environ["DATA_DIR"] = str(path)
    return path


def _status(services: Services) -> int:
    rows = [
        ("projection", "kind", "position", "head", "lag", "lag s", "runner", "rebuild", "held by")
    ]
    for status in services.projection_status():
        rebuild = "-" if status.rebuild_position is None else f"at {status.rebuild_position:,}"
        held = "-"
        if status.held_by is not None:
            held = f"pid {status.held_by.pid}, open {status.held_by.age_seconds:.0f} s"
        rows.append(
            (
                status.name,
                status.kind,
                f"{status.position:,}",
                f"{status.head:,}",
                f"{status.lag_events:,}",
                f"{status.lag_seconds:.1f}",
                status.runner,
                rebuild,
                held,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 0


def _rebuild(services: Services, args: argparse.Namespace) -> int:
    targets = services.rebuild_targets()
    names = [args.name] if args.name else list(targets)
    with RebuildDisplay() as display, _stop_on_ctrl_c() as stop:
        for name in names:
            rebuilder = services.rebuilder(
                targets[name], display, batch_size=args.batch_size, stop=stop
            )
            try:
                outcome = rebuilder.run(accept_changes=args.accept_changes, restart=args.restart)
            except (RebuildStopped, KeyboardInterrupt):
                print(
                    f"resources: stopped; the live {name} read model is untouched."
                    " Run the same command to resume.",
                    file=sys.stderr,
                )
                return 130
            except RebuildBusy as refused:
                print(f"resources: {refused}", file=sys.stderr)
                return 1
            except VerificationFailed as refused:
                print(refused, file=sys.stderr)  # "<projection>: N rows differ ...", as progress
                return 1
            resumed = f", resumed at {outcome.resumed_from:,}" if outcome.resumed_from else ""
            changed = f", {outcome.differences} rows changed" if outcome.differences else ""
            print(
                f"{name}: rebuilt {outcome.events:,} events in {outcome.seconds:.2f} s"
                f" ({outcome.events / max(outcome.seconds, 1e-9):,.0f} events/s{resumed}),"
                f" verified{changed}, swapped in {outcome.swap_seconds * 1000:.0f} ms"
                f" at position {outcome.position:,}",
                flush=True,
            )
    return 0


@contextmanager
def _stop_on_ctrl_c() -> Iterator[threading.Event]:
    """The first Ctrl-C asks a rebuild to stop at the end of its batch (an interrupt
    raised anywhere else could be lost, say in a finalizer, or leave a query half
    sent); a second one interrupts at once."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            signal.default_int_handler(signum, frame)
        stop.set()

    previous = signal.signal(signal.SIGINT, request_stop)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_projections(services: Services) -> int:
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        print(f"resources: stopping the projection runner ({signal.Signals(signum).name})")
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    watch_parent(stop)
    print("resources: projection runner started (activity)", flush=True)
    services.activity_runner().run(stop)
    return 0


def _collect_garbage(services: Services) -> int:
    older_than = timedelta(seconds=services.settings.signed_url_ttl)

    async def collect(resources: ResourceService) -> int:
        count = 0
        async for item in resources.collect_garbage(older_than=older_than, per_second=200):
            count += 1
            print(f"removed {item.kind} {item.name} (resource {item.resource_id})", flush=True)
        return count

    try:
        with services.blocking() as resources:
            removed = resources.call(collect, resources.service)
    except BlobStoreUnavailable as error:
        print(f"resources: the blob store: {error}", file=sys.stderr)
        return 1
    print(f"resources: removed {removed} objects no resource needs", flush=True)
    return 0


def _keys(services: Services, args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        if not args.user.strip():
            print("resources: --user must not be empty", file=sys.stderr)
            return 2
        key_id, secret = services.keys.create(args.project_id, args.user.strip())
        print(f"Created key {key_id} for project {args.project_id}, user {args.user.strip()}.")
        print("Keep it now: it is shown only once.")
        print(secret)
        return 0
    if args.keys_command == "list":
        for key in services.keys.listing():
            state = "revoked " + key.revoked_at.isoformat() if key.revoked_at else "active"
            print(
                f"{key.id}\tproject={key.project_id}\tuser={key.user_id}\t"
                f"created={key.created_at.isoformat()}\t{state}"
            )
        return 0
    if services.keys.revoke(args.id):
        print(f"Revoked key {args.id}.")
        return 0
    print(f"resources: no key {args.id}", file=sys.stderr)
    return 1


def _serve(
    settings: Settings, host: str | None, port: int | None, workers: int, projections: bool
) -> int:
    from api.cli.server import serve

    # The workers read their settings from the environment: --host and --port go
    # there too, so the signed URLs they hand out (PUBLIC_URL's default) name the
    # address the server listens on.
    if host:
        os.environ["HOST"] = host
    if port is not None:
        os.environ["PORT"] = str(port)
    # Starts the embedded database when needed; this process keeps it running
    # for the workers, which connect by URL.
    os.environ["DATABASE_URL"] = database_url(settings.database_url, settings.data_dir)
    serving = Settings.from_env()  # what the workers will read
    services = Services(serving, pool_size=1)
    try:
        if services.keys.count() == 0:
            _, secret = services.keys.create(FIRST_PROJECT, FIRST_USER)
            print(f"First start: an API key for project {FIRST_PROJECT}, user {FIRST_USER}:")
            print(secret, flush=True)
    finally:
        services.close()
    print(
        f"resources: serving {serving.public_url} (docs: {serving.public_url}/schema/swagger);"
        f" files in {serving.blob_store_url}",
        file=sys.stderr,
        flush=True,
    )
    runner = None
    if projections:
        runner = RunnerSupervisor(
            [sys.executable, "-m", "api.cli.commands", "--quiet-location", "projections", "run"],
            env=dict(os.environ),
        )
        runner.start()
    try:
        return serve(
            host or settings.host,
            settings.port if port is None else port,
            workers,
            settings.log_level.lower(),
        )
    finally:
        if runner is not None:
            runner.stop()


if __name__ == "__main__":
    sys.exit(main())
