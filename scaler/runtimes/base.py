"""What the scaler needs from a way of running replicas, and the pieces both backends share.

A backend starts a replica of a version and hands back a `ReplicaHandle` (its id and gRPC address),
waits for it to answer ModelReady, notices when it exits, stops it, and lists the replicas that a
previous scaler left behind (so they can be adopted or removed). Later backends (Kubernetes) implement
the same `Runtime` protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol

from scaler.errors import ReadyTimeoutError, ReplicaExitedError
from scaler.probe import ReadyProbe

# hydro.managed=true and hydro.version={key} mark every replica the scaler runs (DESIGN.md);
# hydro.scaler={instance} tells which scaler owns it, so scalers sharing one engine leave each other alone.
MANAGED_LABEL = "hydro.managed"
VERSION_LABEL = "hydro.version"
INSTANCE_LABEL = "hydro.scaler"


@dataclass(frozen=True)
class ReplicaSpec:
    """What to run: one version, under its deployment config's resource limits."""

    version_key: str
    model: str
    version: int
    image: str
    artifact_url: str
    cpu: float = 1.0
    memory_mb: int = 512


@dataclass(frozen=True)
class ReplicaHandle:
    """A replica a backend started (or found): unique id and the address of its GRPCInferenceService.

    `phases` are the named steps of the launch with their seconds, as the backend measured them
    (docker: `holder-wait`, `pull` when the host lacked the image, `create`, `start`); empty for adopted
    replicas.
    """

    replica_id: str
    version_key: str
    model: str
    address: str
    phases: tuple[tuple[str, float], ...] = field(default=(), compare=False)


class Runtime(Protocol):
    """A way of running replicas (`process`, `docker`)."""

    name: str

    async def prepare(self, spec: ReplicaSpec) -> None:
        """Make the first start of `spec` cheaper ahead of time (docker: pull its image if missing).

        Raises ImageError when that fails; the caller decides whether it matters.
        """
        ...

    async def start(self, spec: ReplicaSpec) -> ReplicaHandle:
        """Launch one replica of `spec`; return once it is launched (not yet ready)."""
        ...

    async def wait_ready(self, replica: ReplicaHandle, probe: ReadyProbe, timeout: float) -> None:
        """Return once the replica answers ModelReady true.

        Raises ReplicaExitedError if it exits first and ReadyTimeoutError after `timeout` seconds.
        """
        ...

    async def wait_exited(self, replica: ReplicaHandle) -> str:
        """Return, describing how, once the replica has exited (at once if it already has)."""
        ...

    async def stop(self, replica: ReplicaHandle) -> None:
        """Stop the replica and release what it holds; a replica that is already gone is fine."""
        ...

    async def list_existing(self) -> list[ReplicaHandle]:
        """Replicas left running by a previous scaler, to be adopted or removed."""
        ...

    async def close(self) -> None:
        """Release the backend's own resources (not the replicas)."""
        ...


async def ready_or_exited(
    replica: ReplicaHandle, probe: ReadyProbe, exited: Awaitable[str], timeout: float
) -> None:
    """Probe until ready while watching for the replica's exit; the shared body of `wait_ready`."""
    probe_task = asyncio.ensure_future(probe.wait(timeout))
    exit_task = asyncio.ensure_future(exited)
    try:
        await asyncio.wait({probe_task, exit_task}, return_when=asyncio.FIRST_COMPLETED)
        if probe_task.done() and probe_task.result():
            return
        if exit_task.done():
            raise ReplicaExitedError(
                f"replica {replica.replica_id} of {replica.version_key} exited before turning ready: "
                f"{exit_task.result()}"
            )
        raise ReadyTimeoutError(
            f"replica {replica.replica_id} of {replica.version_key} did not answer ModelReady at "
            f"{replica.address} within {timeout:g} s"
        )
    finally:
        for task in (probe_task, exit_task):
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
