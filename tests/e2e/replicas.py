"""The model containers of one version on the Docker engine, and each one's own request counters.

Replicas are found by the labels the scaler's docker backend puts on them (`hydro.version`,
`hydro.scaler`); their counters come from the runtime inside, `hydro.v1.RuntimeInfo/GetStats` on the
container's published gRPC port, so tests assert what each replica saw rather than the router's belief.
"""

from __future__ import annotations

from dataclasses import dataclass

import docker
import docker.errors
import grpc

from protos.hydro.v1 import runtime_pb2, runtime_pb2_grpc, scaler_pb2, scaler_pb2_grpc
from scaler.runtimes.addresses import Reach, reach_of_inspected
from scaler.runtimes.docker import PORT_NUMBER
from tests.e2e.platform import Platform


@dataclass(frozen=True)
class Container:
    id: str
    status: str
    address: str | None
    """`127.0.0.1:port` of its gRPC port, None once it is not running."""


def containers(platform: Platform, version_key: str, include_stopped: bool = False) -> list[Container]:
    """This platform's containers of `version_key`."""
    client = docker.from_env()
    try:
        found = client.containers.list(
            all=include_stopped,
            filters={
                "label": [
                    f"hydro.version={version_key}",
                    f"hydro.scaler={platform.env['HYDRO_SCALER_INSTANCE']}",
                ]
            },
            ignore_removed=True,  # one removed between the listing and its inspection is gone
        )
        out = []
        for container in found:
            address = published_address(client, container.id) if container.status == "running" else None
            out.append(Container(container.id, container.status, address))
        return out
    finally:
        client.close()


def replica_reach(client: docker.DockerClient, container_id: str) -> Reach | None:
    """How a replica's gRPC port 9000 is reached: on the replica itself, or, when it joined a
    network-namespace holder's network (label `hydro.holder`), on that holder (None: not published)."""
    labels = client.api.inspect_container(container_id)["Config"]["Labels"] or {}
    publisher = labels.get("hydro.holder") or container_id
    try:
        return reach_of_inspected(client.api.inspect_container(publisher), PORT_NUMBER)
    except docker.errors.NotFound:
        return None


def published_address(client: docker.DockerClient, container_id: str) -> str | None:
    """`127.0.0.1:port` where a replica's gRPC port 9000 is published (see `replica_reach`)."""
    reach = replica_reach(client, container_id)
    return None if reach is None else reach.address("published", PORT_NUMBER)


def stats(address: str, timeout: float = 5) -> runtime_pb2.RuntimeStats:
    """The runtime's own counters at `address`."""
    with grpc.insecure_channel(address) as channel:
        stub = runtime_pb2_grpc.RuntimeInfoStub(channel)  # type: ignore[no-untyped-call]
        reply: runtime_pb2.RuntimeStats = stub.GetStats(runtime_pb2.RuntimeStatsRequest(), timeout=timeout)
        return reply


def ready_addresses(platform: Platform, version_key: str) -> list[str]:
    """The addresses the scaler lists as ready (and hands the router) for `version_key`."""
    with grpc.insecure_channel(platform.env["HYDRO_SCALER_ADDRESS"]) as channel:
        stub = scaler_pb2_grpc.ScalerStub(channel)  # type: ignore[no-untyped-call]
        state = stub.ListReplicas(
            scaler_pb2.ListReplicasRequest(),
            timeout=5,
            metadata=[("authorization", f"Bearer {platform.env['HYDRO_SERVICE_TOKEN']}")],
        )
    return [e.address for v in state.versions if v.version_key == version_key for e in v.ready]


def kill(container_id: str) -> None:
    """`docker kill` (SIGKILL): the container dies at once, mid-request."""
    client = docker.from_env()
    try:
        client.api.kill(container_id)
    finally:
        client.close()
