"""Where the scaler's host reaches a replica container's gRPC port: its bridge address or its published port.

Every container publishes its gRPC port on 127.0.0.1 (for people and tools on the host), but a call through
the published port passes docker's userland proxy: one more process and two more socket hops per call
(about 0.1 ms and 0.15 CPU-ms per call here, on both the router's forward and the probes). On the Docker
host the container's address on the bridge network is reachable directly, so that is what replicas are
announced at by default (`HYDRO_SCALER_REPLICA_ADDRESS=bridge`); `published` is for a router that does
not run on the Docker host's network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

AddressMode = Literal["bridge", "published"]


@dataclass(frozen=True)
class Reach:
    """How one container's gRPC port is reached: the 127.0.0.1 port it is published on, and its bridge
    address ('' when it has none, e.g. on a network without one)."""

    host_port: str
    bridge_ip: str

    def address(self, mode: AddressMode, port: int) -> str:
        if mode == "bridge" and self.bridge_ip:
            return f"{self.bridge_ip}:{port}"
        return f"127.0.0.1:{self.host_port}"


def reach_of_inspected(inspected: dict[str, Any], port: int) -> Reach | None:
    """From `inspect_container`: None when `port` is not published."""
    settings = inspected.get("NetworkSettings") or {}
    bindings = (settings.get("Ports") or {}).get(f"{port}/tcp") or []
    if not bindings:
        return None
    return Reach(str(bindings[0]["HostPort"]), _bridge_ip(settings))


def reach_of_listed(summary: dict[str, Any], port: int) -> Reach | None:
    """From a `containers()` list entry: None when `port` is not published."""
    host_port = next(
        (p.get("PublicPort") for p in summary.get("Ports", []) if p.get("PrivatePort") == port), None
    )
    if host_port is None:
        return None
    return Reach(str(host_port), _bridge_ip(summary.get("NetworkSettings") or {}))


def _bridge_ip(settings: dict[str, Any]) -> str:
    ip = settings.get("IPAddress") or ""
    if ip:
        return str(ip)
    for network in (settings.get("Networks") or {}).values():
        if network and network.get("IPAddress"):
            return str(network["IPAddress"])
    return ""
