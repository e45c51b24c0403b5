"""The `resources` command line: serve, and manage API keys."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence

from api.database import database_url
from api.services import Services
from api.settings import Settings, SettingsError

FIRST_PROJECT = 1
FIRST_USER = "local-user"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="resources", description="The Resource service.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="address to listen on (default: HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default: PORT or 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    serve.add_argument(
        "--no-projections",
        action="store_true",
        help="do not start the asynchronous projection runner beside the server",
    )

    projections = commands.add_parser(
        "projections", help="asynchronous projections"
    ).add_subparsers(dest="projections_command", required=True)
    projections.add_parser(
        "run", help="run the asynchronous projections (one active runner, others stand by)"
    )

    keys = commands.add_parser("keys", help="manage project API keys").add_subparsers(
        dest="keys_command", required=True
    )
    create = keys.add_parser("create", help="create a key; prints it once, on the last line")
    create.add_argument("--project-id", type=int, required=True)
    create.add_argument("--user", required=True, help="the user id the key acts for")
    keys.add_parser("list", help="one key per line, id first; never the secret")
    revoke = keys.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("id", type=int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"resources: {error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args.host, args.port, args.workers, not args.no_projections)
    services = Services(settings, pool_size=2)
    try:
        if args.command == "projections":
            return _run_projections(services)
        return _keys(services, args)
    finally:
        services.close()


def _run_projections(services: Services) -> int:
    logging.basicConfig(
        level=services.settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        print(f"resources: stopping the projection runner ({signal.Signals(signum).name})")
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print("resources: projection runner started (activity)", flush=True)
    services.activity_runner().run(stop)
    return 0


def _keys(services: Services, args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        if args.project_id < 1 or not args.user.strip():
            print("resources: --project-id must be 1 or more and --user not empty", file=sys.stderr)
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
    import uvicorn

    # Starts the embedded database when needed; this process keeps it running
    # for the workers, which connect by URL.
    os.environ["DATABASE_URL"] = database_url(settings)
    services = Services(Settings.from_env(), pool_size=1)
    try:
        if services.keys.count() == 0:
            _, secret = services.keys.create(FIRST_PROJECT, FIRST_USER)
            print(f"First start: an API key for project {FIRST_PROJECT}, user {FIRST_USER}:")
            print(secret, flush=True)
    finally:
        services.close()
    runner = None
    if projections:
        runner = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "projections", "run"], env=dict(os.environ)
        )
    try:
        uvicorn.run(
            "api.app:create_app_from_env",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_level=settings.log_level.lower(),
        )
    finally:
        if runner is not None:
            runner.terminate()
            runner.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
