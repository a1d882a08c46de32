"""The listening socket that the services' HTTP servers (uvicorn) are handed.

Shared here because the services never import one another.
"""

from __future__ import annotations

import socket


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
