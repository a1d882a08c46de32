"""A tiny HTTP server for `/metrics` (Prometheus) and `/health`: the scaler needs nothing more.

Plain asyncio streams: one request per connection, GET only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from scaler.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)


async def start_http_server(
    host: str, port: int, metrics: Metrics, health: Callable[[], dict[str, Any]]
) -> asyncio.Server:
    """Listen on `host:port`; the caller closes the returned server."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.partition(" ")[0].partition("?")[0]
            if method not in ("GET", "HEAD"):
                status, content_type, body = "405 Method Not Allowed", "application/json", _error("use GET")
            elif path == "/metrics":
                status, content_type, body = "200 OK", CONTENT_TYPE, metrics.render()
            elif path == "/health":
                status, content_type, body = "200 OK", "application/json", json.dumps(health()).encode()
            else:
                status, content_type, body = "404 Not Found", "application/json", _error(f"no route {path!r}")
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("answering an HTTP request failed")
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


def _error(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
