"""`host:port` for a host that may be an IPv6 literal (written `[::1]:9091`, as gRPC and URLs want it).

In `wire/` because the runtime, which may import nothing else, listens the same way as the services.
"""

from __future__ import annotations


def host_port(host: str, port: int) -> str:
    """`host:port`, with an IPv6 `host` in brackets (one already in brackets is left as it is)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"
