"""The slow-client guard of every HTTP server (`servicekit.slow_clients` under `HttpServer`): a client that
dawdles over its request head is cut off, one whose body stalls is answered 408, and everyone else is
served as before, keep-alive included.

A real `HttpServer` (uvicorn) on loopback with short timeouts; the clients are raw sockets, so the test
controls every byte and every pause.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from servicekit.serving import HttpServer
from tests.ports import free_port

TIMEOUT_S = 0.5


async def echo(request: Request) -> Response:
    if request.query_params.get("wait"):
        await asyncio.sleep(float(request.query_params["wait"]))  # an application slow to read the body
    body = await request.body()
    return Response(str(len(body)).encode() if len(body) > 100 else body)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
    port = free_port()
    http = HttpServer(
        app, "127.0.0.1", port, "the test server", header_timeout_s=TIMEOUT_S, body_timeout_s=TIMEOUT_S
    )
    await http.wait_started()
    yield "127.0.0.1", port
    await http.stop()


def _head(length: int) -> bytes:
    return f"POST /echo HTTP/1.1\r\nhost: test\r\ncontent-length: {length}\r\n\r\n".encode()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP answer (status, body) read off the connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status = int(head.split(b" ", 2)[1])
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return status, await asyncio.wait_for(reader.readexactly(length), 5)


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await asyncio.wait_for(reader.read(1), 5) == b""
    except ConnectionResetError:
        return True


async def test_a_client_sending_its_head_byte_by_byte_is_cut_off(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    request = _head(2) + b"hi"
    start = time.monotonic()
    sent = 0
    for byte in request:  # 50 ms a byte: the request would take 2.5 s
        if reader.at_eof():
            break
        try:
            writer.write(bytes([byte]))
            await writer.drain()
        except ConnectionError:
            break
        sent += 1
        await asyncio.sleep(0.05)

    assert sent < len(request) - 2, "the whole head went through"
    assert await _closed(reader)
    assert time.monotonic() - start < TIMEOUT_S + 1.5
    writer.close()


async def test_a_connection_that_never_sends_is_closed(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    start = time.monotonic()

    assert await _closed(reader)
    assert TIMEOUT_S * 0.9 <= time.monotonic() - start < TIMEOUT_S + 1.5
    writer.close()


async def test_a_stalled_body_gets_408_and_a_closed_connection(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(_head(100) + b"only ten b")
    await writer.drain()

    status, body = await _answer(reader)

    assert status == 408 and b"stopped" in body
    assert await _closed(reader)
    writer.close()


async def test_a_body_that_keeps_coming_is_served_however_long_it_takes(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    writer.write(_head(50))
    for _ in range(5):  # 5 pieces 0.3 s apart: 1.5 s in all, each within the 0.5 s timeout
        await asyncio.sleep(0.3)
        writer.write(b"x" * 10)
        await writer.drain()

    assert await _answer(reader) == (200, b"x" * 50)
    writer.close()


async def test_keep_alive_serves_requests_spread_over_more_than_the_timeouts(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    answers = []
    for i in range(4):  # 1.2 s on one connection, each request quick
        writer.write(_head(2) + f"{i}!".encode())
        await writer.drain()
        answers.append(await _answer(reader))
        await asyncio.sleep(0.3)

    assert answers == [(200, f"{i}!".encode()) for i in range(4)]
    writer.close()


async def test_a_body_the_application_reads_late_is_no_slow_client(server: tuple[str, int]) -> None:
    # 8 MB fill the socket buffers: uvicorn stops reading until the application, asleep for three
    # timeouts, asks for the body. The wait is the application's, not the client's.
    size = 8 * 1024 * 1024
    reader, writer = await asyncio.open_connection(*server)
    writer.write(b"POST /echo?wait=1.5 HTTP/1.1\r\nhost: test\r\ncontent-length: %d\r\n\r\n" % size)
    writer.write(b"x" * size)
    await writer.drain()

    assert await _answer(reader) == (200, str(size).encode())
    writer.close()


async def test_a_client_waiting_for_100_continue_is_no_slow_client(server: tuple[str, int]) -> None:
    # The body comes only once the application, asleep for three timeouts, asks for it.
    reader, writer = await asyncio.open_connection(*server)
    writer.write(
        b"POST /echo?wait=1.5 HTTP/1.1\r\nhost: test\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n"
    )
    await writer.drain()

    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    assert await _answer(reader) == (200, b"hello")
    writer.close()
