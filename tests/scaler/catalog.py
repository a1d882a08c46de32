"""A real `hydro.v1.Catalog` gRPC server serving snapshots the test constructs (the control plane's role)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from tests.real_parts import DEPLOYMENT_CONFIG_DEFAULTS


@dataclass(frozen=True)
class Version:
    model: str
    version: int
    artifact_url: str = ""
    image: str = ""
    config: str = "default"

    @property
    def key(self) -> str:
        return f"{self.model}:{self.version}"


def snapshot(revision: int, versions: Iterable[Version], **configs: dict[str, Any]) -> catalog_pb2.Snapshot:
    """A snapshot listing `versions` (each in an application of its own) and the named configs."""
    message = catalog_pb2.Snapshot(revision=revision)
    all_configs = {"default": {}, **configs}
    for name, knobs in all_configs.items():
        message.deployment_configs.add(name=name, **{**DEPLOYMENT_CONFIG_DEFAULTS, **knobs})
    for version in versions:
        message.versions.add(
            key=version.key,
            model=version.model,
            version=version.version,
            image=version.image,
            artifact_url=version.artifact_url,
            deployment_config=version.config,
        )
        app = message.applications.add(name=version.model)
        app.stages.add().variants.add(version_key=version.key, weight=100, deployment_config=version.config)
    return message


class CatalogServer(catalog_pb2_grpc.CatalogServicer):
    """Streams the current snapshot to every watcher, and again after each `publish`."""

    def __init__(self, first: catalog_pb2.Snapshot) -> None:
        self.snapshot = first
        self.watchers = 0
        self.authorizations: list[str] = []
        """The `authorization` metadata of every watch opened (a stand-in checks none)."""
        self._changed = asyncio.Event()
        self._server: grpc.aio.Server | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def publish(self, snapshot: catalog_pb2.Snapshot) -> None:
        self.snapshot = snapshot
        self._changed.set()
        self._changed = asyncio.Event()

    async def Watch(
        self, request: catalog_pb2.WatchRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[catalog_pb2.Snapshot]:
        self.watchers += 1
        self.authorizations.extend(
            str(value) for key, value in context.invocation_metadata() or () if key == "authorization"
        )
        try:
            while True:
                changed = self._changed
                yield self.snapshot
                await changed.wait()
        finally:
            self.watchers -= 1

    async def start(self, port: int = 0) -> None:
        self._server = grpc.aio.server()
        catalog_pb2_grpc.add_CatalogServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        self.port = self._server.add_insecure_port(f"127.0.0.1:{port}")
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=None)
            self._server = None
