"""The slow-client guard of the HTTP servers: uvicorn's httptools protocol with a header and a body timeout.

uvicorn closes a keep-alive connection that stays idle between requests (`timeout_keep_alive`), but it
waits forever for a request head that never ends, or a body that stops coming: a few hundred such
connections hold a server's sockets and memory for free. `guarded_protocol` makes a protocol class
(uvicorn's `http=` option) that

- closes a connection that has not sent a whole request head `header_timeout_s` after it opened or
  after the first byte of the request (bytes that trickle in do not extend it);
- answers 408 and closes when a request body stalls: no new piece of it for `body_timeout_s`; while
  the application does not read the body (uvicorn stops reading the socket, or has not yet sent the
  `100 Continue` the client waits for), the wait does not count.

Cost per request: a few attribute writes and one clock read. Each connection has at most one timer,
armed when its first request starts and re-armed only when it fires (it checks the phase and the time
of the last progress, and re-arms for what is left): no task, no timer per request or per body chunk.
TLS needs nothing more: uvicorn puts the TLS layer in the transport, under this protocol, which asyncio
connects only once the handshake is done (a handshake is bounded by asyncio's own 60 s timeout).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

_HEAD, _BODY = 1, 2

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 33\r\n"
    b"connection: close\r\n"
    b"\r\n"
    b"the request body stopped arriving"
)


class SlowClientGuard(HttpToolsProtocol):
    """uvicorn's httptools protocol that cuts off slow clients (see the module docstring)."""

    header_timeout_s = 10.0
    body_timeout_s = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = 0
        """_HEAD while a request head is awaited, _BODY while its body is, 0 otherwise."""
        self._since = 0.0
        """Loop time the head started (_HEAD) or of the body's last progress (_BODY)."""
        self._timer: asyncio.TimerHandle | None = None
        self._was_waiting = False

    # -- the phases -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._enter(_HEAD, self.header_timeout_s)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase != _HEAD:  # else the head's time runs from the connection's start
            self._enter(_HEAD, self.header_timeout_s)

    def on_headers_complete(self) -> None:
        self._enter(_BODY, self.body_timeout_s)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._since = self.loop.time()
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._phase = 0
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def handle_websocket_upgrade(self) -> None:
        self._disarm()  # the connection is the WebSocket protocol's from now on
        super().handle_websocket_upgrade()

    # -- the timer --------------------------------------------------------------------------------

    def _enter(self, phase: int, timeout_s: float) -> None:
        self._phase = phase
        self._was_waiting = False
        self._since = now = self.loop.time()
        due = now + timeout_s
        timer = self._timer
        if timer is not None:
            if timer.when() <= due:
                return  # it fires first, and re-arms for what is left
            timer.cancel()
        self._timer = self.loop.call_at(due, self._expired)

    def _disarm(self) -> None:
        self._phase = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        phase = self._phase
        if phase == 0 or self.transport.is_closing():
            return
        now = self.loop.time()
        waiting = phase == _BODY and bool(
            self.flow.read_paused or (self.cycle and self.cycle.waiting_for_100_continue)
        )
        if waiting or self._was_waiting:
            # The application has not asked for the body yet (or asked since the last look, when the
            # `100 Continue` went out): the client cannot be blamed, and gets a whole timeout from now.
            self._since = now
        self._was_waiting = waiting
        due = self._since + (self.header_timeout_s if phase == _HEAD else self.body_timeout_s)
        if now < due:
            self._timer = self.loop.call_at(due, self._expired)
            return
        self._phase = 0
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        if phase == _HEAD:
            log.info("closed %s: no whole request head within %g s", client, self.header_timeout_s)
            self.transport.close()
            return
        log.info("answered %s 408: its request body stalled for %g s", client, self.body_timeout_s)
        cycle = self.cycle
        if cycle is not None and not cycle.response_started:
            self.transport.write(_REQUEST_TIMEOUT)
        if cycle is not None:
            # The application's reads end (http.disconnect) and its answer, if any, goes nowhere.
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()


def guarded_protocol(header_timeout_s: float, body_timeout_s: float) -> type[SlowClientGuard]:
    """A `SlowClientGuard` class with these timeouts, for `uvicorn.Config(http=...)`."""
    return type(
        "SlowClientGuard",
        (SlowClientGuard,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
