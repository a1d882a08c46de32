"""Replica containers on the engine: create, start, stop, inspect, and sort out what a previous scaler left.

A container runs detached with the labels `hydro.managed=true`, `hydro.version={key}` and
`hydro.scaler={instance}` (only its own instance's containers are adopted or removed), its gRPC port
9000/tcp published on 127.0.0.1 only (a random host port), the deployment config's cpu and memory
limits, as uid 10001 on a read-only root filesystem with a tmpfs on /tmp, all capabilities dropped,
no-new-privileges and a pids limit. The thread pools of numeric libraries (OpenBLAS, OpenMP, MKL) are
sized to the CPU limit through their environment variables: by default they start one thread per host
core, which a container limited to one CPU cannot use, and OpenBLAS starting them is about a third of
numpy's import (measured: import numpy 120 -> 85 ms in a runtime container), i.e. of every cold start.

Every method blocks on the engine: call it in a worker thread. Docker errors become Hydro errors here.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
from collections.abc import Callable
from typing import Any

import docker
import docker.errors

from scaler.errors import StartError
from scaler.runtimes.addresses import AddressMode, Reach, reach_of_inspected, reach_of_listed
from scaler.runtimes.base import INSTANCE_LABEL, MANAGED_LABEL, VERSION_LABEL, ReplicaHandle, ReplicaSpec
from scaler.runtimes.docker.holders import HOLDER_LABEL, HOLDER_ROLE, ROLE_LABEL, Holder, remove_holder
from scaler.runtimes.docker.images import ImageMissing
from servicekit.docker_errors import explain

log = logging.getLogger(__name__)

CONTAINER_PORT = "9000/tcp"
PORT_NUMBER = 9000
CONTAINER_USER = "10001"

Adopted = tuple[ReplicaHandle, str | None]
"""A running replica a previous scaler left, and the holder whose network it joined (if any)."""


class Containers:
    """The engine calls on this scaler instance's replica containers."""

    def __init__(
        self,
        client: Callable[[], docker.DockerClient],
        *,
        instance: str,
        replica_address: AddressMode,
        stop_timeout_s: float,
        pids_limit: int,
        tmpfs_mb: int,
    ) -> None:
        self._client = client
        self.instance = instance
        self.replica_address = replica_address
        self.stop_timeout_s = stop_timeout_s
        self.pids_limit = pids_limit
        self.tmpfs_mb = tmpfs_mb

    def owned_filter(self) -> list[str]:
        """Docker label filter (all must match) for the containers this scaler instance owns."""
        return [f"{MANAGED_LABEL}=true", f"{INSTANCE_LABEL}={self.instance}"]

    def address(self, reach: Reach) -> str:
        """The address a replica reached this way is announced (and probed) at."""
        return reach.address(self.replica_address, PORT_NUMBER)

    def create(self, spec: ReplicaSpec, holder: Holder | None = None) -> str:
        """Create (not start) a hardened container of `spec`, in `holder`'s network if any; return its id.

        Raises ImageMissing when the host lacks the image.
        """
        api = self._client().api
        # The engine refuses more CPUs than the host has; 0 means no limit.
        cpu = min(spec.cpu, float(os.cpu_count() or 1))
        memory = f"{max(spec.memory_mb, 8)}m" if spec.memory_mb > 0 else None
        labels = {MANAGED_LABEL: "true", VERSION_LABEL: spec.version_key, INSTANCE_LABEL: self.instance}
        if holder is None:
            network: dict[str, Any] = {"port_bindings": {CONTAINER_PORT: ("127.0.0.1", None)}}
        else:
            network = {"network_mode": f"container:{holder.container_id}"}
            labels[HOLDER_LABEL] = holder.container_id
        host_config = api.create_host_config(
            **network,
            nano_cpus=int(cpu * 1e9) if cpu > 0 else None,
            mem_limit=memory,
            memswap_limit=memory,
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={self.tmpfs_mb}m"},
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=self.pids_limit,
        )
        name = f"hydro-{spec.model}-{spec.version}-{secrets.token_hex(3)}"
        try:
            created = api.create_container(
                spec.image,
                name=name,
                detach=True,
                user=CONTAINER_USER,
                labels=labels,
                # An int: docker-py turns "9000/tcp" into "9000/tcp/tcp" (the image's EXPOSE hid that).
                ports=[PORT_NUMBER] if holder is None else None,
                environment={"PYTHONUNBUFFERED": "1", **thread_env(cpu)},
                host_config=host_config,
            )
        except docker.errors.ImageNotFound:
            raise ImageMissing(spec.image) from None
        except docker.errors.DockerException as exc:
            raise StartError(f"cannot create a container of {spec.image!r}: {explain(exc)}") from exc
        container_id: str = created["Id"]
        return container_id

    def start(self, spec: ReplicaSpec, container_id: str, holder: Holder | None = None) -> Reach:
        """Start a created container; return how its gRPC port is reached."""
        api = self._client().api
        try:
            api.start(container_id)
            if holder is not None:
                return holder.reach
            reach = reach_of_inspected(api.inspect_container(container_id), PORT_NUMBER)
        except docker.errors.DockerException as exc:
            self.stop_and_remove(container_id)
            raise StartError(f"cannot start a container of {spec.image!r}: {explain(exc)}") from exc
        if reach is None:
            self.stop_and_remove(container_id)
            raise StartError(
                f"container {container_id[:12]} of {spec.image!r} has no host port for {CONTAINER_PORT}"
            )
        return reach

    def stop_and_remove(self, container_id: str) -> None:
        api = self._client().api
        try:
            api.stop(container_id, timeout=max(0, round(self.stop_timeout_s)))
        except docker.errors.NotFound:
            return
        except docker.errors.DockerException as exc:
            log.warning("stopping container %s failed (%s); removing it by force", container_id[:12], exc)
        try:
            api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            # "removal already in progress" is fine; anything else is worth a line in the log.
            if exc.status_code != 409:
                log.warning("removing container %s failed: %s", container_id[:12], exc)

    def is_running(self, container_id: str) -> bool:
        try:
            state = self._client().api.inspect_container(container_id)["State"]
        except docker.errors.NotFound:
            return False
        return bool(state.get("Running"))

    def describe_exit(self, container_id: str) -> str:
        api = self._client().api
        try:
            state = api.inspect_container(container_id)["State"]
            logs = api.logs(container_id, tail=8).decode(errors="replace").strip()
        except docker.errors.NotFound:
            return "container removed"
        how = "OOM-killed" if state.get("OOMKilled") else f"exit code {state.get('ExitCode')}"
        tail = " | ".join(logs.splitlines())
        return f"{how}; last output: {tail}" if tail else how

    def remove_holder(self, container_id: str) -> None:
        remove_holder(self._client(), container_id)

    def list_owned(self) -> tuple[list[Adopted], list[Holder]]:
        """Running replicas and the idle holders left running; stopped or broken leftovers are removed.

        A replica that joined a holder is reached through the holder's published port; one whose holder
        is gone is unreachable and removed. Holders no running replica uses are returned as idle.
        """
        api = self._client().api
        summaries = api.containers(all=True, filters={"label": self.owned_filter()})
        holders = {s["Id"]: s for s in summaries if s.get("Labels", {}).get(ROLE_LABEL) == HOLDER_ROLE}
        used: set[str] = set()
        found: list[Adopted] = []
        for summary in summaries:
            container_id = summary["Id"]
            labels = summary.get("Labels", {})
            if container_id in holders:
                continue
            key = labels.get(VERSION_LABEL, "")
            holder_id = labels.get(HOLDER_LABEL)
            holder = holders.get(holder_id) if holder_id else None
            reach = reach_of_listed(summary if not holder_id else holder or {}, PORT_NUMBER)
            running = summary.get("State") == "running"
            if holder_id and (holder is None or holder.get("State") != "running"):
                running = False
            if not running or not key or reach is None:
                log.info("removing leftover container %s (%s)", container_id[:12], summary.get("Status"))
                self.stop_and_remove(container_id)
                if holder_id:
                    self.remove_holder(holder_id)
                    used.add(holder_id)
                continue
            if holder_id:
                used.add(holder_id)
            model = key.rpartition(":")[0]
            found.append((ReplicaHandle(container_id, key, model, self.address(reach)), holder_id or None))
        idle = []
        for holder_id, summary in holders.items():
            if holder_id in used:
                continue
            reach = reach_of_listed(summary, PORT_NUMBER)
            if summary.get("State") == "running" and reach is not None:
                idle.append(Holder(holder_id, reach))
            else:
                log.info("removing leftover holder %s (%s)", holder_id[:12], summary.get("Status"))
                self.remove_holder(holder_id)
        return found, idle


def thread_env(cpu: float) -> dict[str, str]:
    """Environment sizing numeric libraries' thread pools to a CPU limit (none when unlimited, 0)."""
    if cpu <= 0:
        return {}
    threads = str(max(1, math.floor(cpu)))
    return {name: threads for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
