"""Running the app under uvicorn: one process, or N workers sharing the port.

Two things differ from `uvicorn.run(..., workers=N)`:

- Every worker binds its own listening socket with SO_REUSEPORT, so the kernel
  spreads new connections over the workers. With one shared socket, the worker
  that wakes first accepts every connection waiting (a load generator's 16 at
  once), and the other workers sit idle for as long as the connections live.
- Nagle's algorithm is off on every connection. asyncio sets TCP_NODELAY only on
  sockets whose protocol number is IPPROTO_TCP, and a socket made with
  `socket.socket(AF_INET)` has protocol 0: each response's body then waited for
  the client's delayed ACK of its headers, about 40 ms a request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import signal
import socket
import time
from types import FrameType

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.composition.settings import Settings
from api.http.connections import ABORT, BODY_WRITER, BodyWriter, drain

logger = logging.getLogger(__name__)

APP = "api.http.app:create_app_from_env"
GRACEFUL_SECONDS = 30
"""How long a stopping server waits for the requests in flight."""


class ServiceH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with Nagle off, a deadline for a request's head (a
    client that sends its headers slowly, or not at all, is dropped), and its own
    answers to malformed requests in the service's error envelope."""

    head_seconds: float = 10.0
    """Set from REQUEST_HEAD_TIMEOUT when the server starts."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        # Every request's scope state carries this connection's abort and body writer
        # (api.http.connections).
        self.app_state = {
            **self.app_state,
            ABORT: transport.abort,
            BODY_WRITER: self._body_writer,
        }
        self._head_deadline: asyncio.TimerHandle | None = None
        self._arm_head_deadline()

    def _body_writer(self) -> BodyWriter:
        """A writer of the current response's body, for code outside its task: it
        writes only while that response is the connection's, started and unfinished,
        and the connection neither paused (a client not reading) nor closing."""
        cycle = self.cycle
        conn, transport = self.conn, self.transport

        def write(data: bytes) -> bool:
            if (
                cycle is None
                or cycle is not self.cycle
                or not cycle.response_started
                or cycle.response_complete
                or cycle.disconnected
                or cycle.flow.write_paused
                or transport.is_closing()
                or cycle.scope["method"] == "HEAD"
            ):
                return False
            transport.write(conn.send(h11.Data(data=data)))
            return True

        return write

    def _waiting_for_head(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.head_seconds, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self._waiting_for_head() and not self.transport.is_closing():
            self.logger.info("dropped a connection whose request head took too long")
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._waiting_for_head():
            self._arm_head_deadline()
        super().data_received(data)
        if not self._waiting_for_head() and self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def shutdown(self) -> None:
        """uvicorn is stopping: event streams end now rather than hold the shutdown
        until they time out (their clients resume on another process)."""
        drain()
        super().shutdown()

    def send_400_response(self, msg: str) -> None:
        body = json.dumps(
            {"error": {"code": "bad_request", "message": "The request is not valid HTTP."}}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        event = h11.Response(status_code=400, headers=headers, reason=b"Bad Request")
        self.transport.write(self.conn.send(event))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()


def _config(host: str, port: int, log_level: str) -> uvicorn.Config:
    settings = Settings.from_env()
    ServiceH11Protocol.head_seconds = settings.request_head_timeout
    return uvicorn.Config(
        APP,
        factory=True,
        host=host,
        port=port,
        log_level=log_level,
        http=ServiceH11Protocol,
        limit_concurrency=settings.limit_concurrency,
        log_config=None,  # api.observability.logs configures logging, in every process
        access_log=False,  # each request is logged by api.observability.request_metrics
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _worker(host: str, port: int, log_level: str) -> None:
    config = _config(host, port, log_level)
    uvicorn.Server(config).run(sockets=[_listening_socket(host, port)])


def serve(host: str, port: int, workers: int, log_level: str) -> int:
    """Serves until SIGINT or SIGTERM; returns the exit status."""
    if workers <= 1:
        server = uvicorn.Server(_config(host, port, log_level))
        server.run()
        return 0 if server.started else 1
    return _Supervisor(host, port, workers, log_level).run()


STARTUP_SECONDS = 10.0
"""A worker that dies sooner than this after it started failed to start (say the port
is taken): the server gives up rather than start it again and again."""


class _Supervisor:
    """Starts the workers, restarts one that dies, stops them all on a signal."""

    def __init__(self, host: str, port: int, workers: int, log_level: str) -> None:
        self._args = (host, port, log_level)
        self._context = multiprocessing.get_context("spawn")
        self._started: dict[int, float] = {}
        self._processes = [self._start(number) for number in range(workers)]
        self._stopping = False
        self._failed = False

    def _start(self, number: int) -> multiprocessing.process.BaseProcess:
        process = self._context.Process(target=_worker, args=self._args, daemon=False)
        process.start()
        self._started[number] = time.monotonic()
        return process

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def run(self) -> int:
        previous = {
            signum: signal.signal(signum, self._stop) for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            while not self._stopping:
                for number, process in enumerate(self._processes):
                    if process.is_alive() or self._stopping:
                        continue
                    if time.monotonic() - self._started[number] < STARTUP_SECONDS:
                        logger.error("a worker failed to start (exit %s)", process.exitcode)
                        self._stopping = self._failed = True
                        break
                    logger.warning(
                        "worker %s exited with %s; starting another", process.pid, process.exitcode
                    )
                    self._processes[number] = self._start(number)
                time.sleep(0.2)
        finally:
            for process in self._processes:
                if process.is_alive():
                    process.terminate()
            for process in self._processes:
                process.join(timeout=30)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return 1 if self._failed else 0
