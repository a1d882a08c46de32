"""Ports for the services a test starts.

A port the kernel hands out for `bind(0)` comes from the ephemeral range, the same range every outgoing
connection takes its local port from, so between the test picking it and a server binding it, a client
connection elsewhere on the machine can take it ("address already in use"). Ports here come from below the
ephemeral range instead, at random, each checked free and never handed out twice by one test process.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A loopback TCP port that nothing listens on and outgoing connections do not take."""
    high = min(_ephemeral_start(), 65536) - 1
    low = 20000 if high > 21000 else 1024
    for _ in range(1000):
        port = random.randint(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port between {low} and {high}")
