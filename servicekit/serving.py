"""Plumbing every service's process shares: its listening socket, its uvicorn server, its `__main__`
(settings read once, signals, one-line exits).

Shared here because the services never import one another. The runtime (which ships `protos/` in
every model image) does not import this module, so uvicorn is not needed inside the image.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, NoReturn, TypeVar

import uvicorn
from pydantic_settings import BaseSettings

from servicekit.settings import SettingsError, load
from servicekit.slow_clients import guarded_protocol
from servicekit.tls import Tls

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

ServiceConfig = TypeVar("ServiceConfig", bound=BaseSettings)


def listen_tcp(host: str, port: int, what: str) -> socket.socket:
    """A non-blocking TCP listener on host:port; `what` names the server in the error when it cannot bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off only on sockets that say they are TCP; with
    # Nagle on, a keep-alive answer written in two parts waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"{what} cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class CancellableServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service stops when its task is cancelled
    (`hydro up` runs several services in one process, and `run_service` maps SIGTERM to a cancel)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    """An ASGI app served by uvicorn in a task of its own, on a listener bound when the server is made (so
    a taken port fails the service's start at once, naming `what`); `stop` ends it gracefully.

    uvicorn's defaults here: no lifespan, warnings only, no access log, the slow-client guard
    (`servicekit.slow_clients`, with the settings `http_header_timeout_s` and `http_body_timeout_s`);
    `config` overrides them. With `tls` holding a certificate it serves HTTPS (callers are not asked for a
    certificate)."""

    def __init__(
        self,
        app: Any,
        host: str,
        port: int,
        what: str,
        *,
        tls: Tls | None = None,
        header_timeout_s: float = 10.0,
        body_timeout_s: float = 30.0,
        **config: Any,
    ) -> None:
        self.what = what
        self.where = f"{host}:{port}"
        self.scheme = "https" if tls is not None and tls.serving else "http"
        self.listener = listen_tcp(host, port, what)
        options: dict[str, Any] = {
            "lifespan": "off",
            "log_level": "warning",
            "access_log": False,
            "http": guarded_protocol(header_timeout_s, body_timeout_s),
        }
        if tls is not None:
            options |= tls.uvicorn_options()
        self._server = CancellableServer(uvicorn.Config(app, **(options | config)))
        self.task: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[None]:
        """Serve in a task (returned, so that the service can watch it die)."""
        self.task = asyncio.create_task(self._server.serve(sockets=[self.listener]), name=self.what)
        return self.task

    async def wait_started(self) -> None:
        """Return once it serves; raise its error, or OSError naming it, if it stopped while starting."""
        task = self.task if self.task is not None else self.start()
        while not self._server.started and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
            raise OSError(f"{self.what} stopped while starting on {self.where}")

    async def stop(self) -> None:
        """Finish the requests under way and stop serving; the listener is closed, started or not."""
        if self.task is not None:
            self._server.should_exit = True
            await asyncio.wait({self.task})
        self.listener.close()


def run_service(
    name: str, settings: type[ServiceConfig], serve: Callable[[ServiceConfig], Coroutine[Any, Any, None]]
) -> None:
    """Run one service until SIGINT or SIGTERM, then stop it gracefully (the `python -m` entry).

    `settings` is read from the HYDRO_* variables first: a bad one exits 2, a port that cannot be bound
    exits 1, each with one line on stderr naming it (`scaler: HYDRO_RUNTIME='swarm': Input should be ...`).
    """
    try:
        loaded = load(settings)
    except SettingsError as exc:
        _exit(name, exc, code=2)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)

    async def main() -> None:
        task = asyncio.create_task(serve(loaded))
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    except SettingsError as exc:  # a setting read while starting
        _exit(name, exc, code=2)
    except OSError as exc:
        _exit(name, exc, code=1)


def _exit(name: str, exc: Exception, *, code: int) -> NoReturn:
    print(f"{name}: {exc}", file=sys.stderr)
    sys.exit(code)
