"""Sonar under test: a real `python -m sonar` process, and what its tests share (reading the Parquet it
wrote from the local store or the S3 server, scraping metrics)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from protos.hydro.v1 import catalog_pb2, sonar_pb2_grpc
from tests.ports import free_port
from tests.router.standins import SERVICE_TOKEN, CatalogStandIn
from tests.sonar.conftest import S3Server

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SonarProcess:
    process: subprocess.Popen[bytes]
    port: int
    metrics_port: int
    log: Path
    env: dict[str, str]
    catalog: CatalogStandIn | None = None
    """The catalog stand-in started for this Sonar alone (when it was given a snapshot)."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stub(self, channel: grpc.aio.Channel) -> sonar_pb2_grpc.SonarStub:
        return sonar_pb2_grpc.SonarStub(channel)  # type: ignore[no-untyped-call]

    async def health(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"http://127.0.0.1:{self.metrics_port}/health")
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    async def metrics(self) -> dict[str, float]:
        """Every sample of /metrics by name and labels (`hydro_sonar_records_total{outcome="accepted"}`)."""
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"http://127.0.0.1:{self.metrics_port}/metrics")
            response.raise_for_status()
        return parse_metrics(response.text)

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send `sig` to the process (by its PID) and wait for it to exit; its exit code."""
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while self.process.poll() is None:
                if loop.time() > deadline:
                    os.kill(self.process.pid, signal.SIGKILL)
                    raise AssertionError(
                        f"sonar did not exit within {timeout} s of signal {sig}:\n{self.log_text()}"
                    )
                await asyncio.sleep(0.05)
        finally:
            if self.catalog is not None:
                await self.catalog.stop()
        return int(self.process.returncode)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def parse_metrics(text: str) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        values[name] = float(value)
    return values


async def start_sonar(
    tmp_path: Path,
    *,
    catalog_address: str | None = None,
    snapshot: catalog_pb2.Snapshot | None = None,
    object_store_url: str,
    s3_endpoint_url: str | None = None,
    port: int | None = None,
    **settings: Any,
) -> SonarProcess:
    """`python -m sonar` with its own ports, configured by HYDRO_* variables (`settings` as field=value);
    waits until it answers /health and follows the catalog at `catalog_address`, or a catalog stand-in of
    its own serving `snapshot`. (Start Sonar before the router that samples to it, so that no stand-in of
    the router's can take Sonar's port meanwhile.)"""
    catalog = None
    if snapshot is not None:
        catalog = CatalogStandIn(snapshot)
        await catalog.start()
        catalog_address = catalog.address
    assert catalog_address, "give start_sonar a catalog_address or a snapshot"
    port = port or free_port()
    metrics_port = free_port()
    env = {
        **os.environ,
        "HYDRO_HOME": str(tmp_path / "sonar-home"),
        "HYDRO_BIND_HOST": "127.0.0.1",
        "HYDRO_SONAR_PORT": str(port),
        "HYDRO_SONAR_METRICS_PORT": str(metrics_port),
        "HYDRO_CATALOG_ADDRESS": catalog_address,
        "HYDRO_OBJECT_STORE_URL": object_store_url,
        "HYDRO_DRIFT_ENABLED": "false",
        # Retention off unless a test asks for it: the stories send records with fixed times, months old by
        # now, which a retention pass would rightly delete under them.
        "HYDRO_SAMPLE_RETENTION_INTERVAL_S": "0",
        "HYDRO_SERVICE_TOKEN": SERVICE_TOKEN,
        "PYTHONPATH": str(REPO_ROOT),
    }
    if s3_endpoint_url:
        env["HYDRO_S3_ENDPOINT_URL"] = s3_endpoint_url
    for name, value in settings.items():
        env[f"HYDRO_{name.upper()}"] = str(value)
    log = tmp_path / f"sonar-{port}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "sonar"], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    sonar = SonarProcess(process, port, metrics_port, log, env, catalog)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 90
    while loop.time() < deadline:
        if process.poll() is not None:
            await sonar.stop()  # stops its catalog stand-in
            raise AssertionError(
                f"sonar exited with {process.returncode} while starting:\n{sonar.log_text()}"
            )
        try:
            if (await sonar.health())["catalog_revision"] is not None:
                return sonar
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    await sonar.stop(signal.SIGKILL)
    raise AssertionError(f"sonar did not start within 90 s:\n{sonar.log_text()}")


def local_parts(root: Path, prefix: str = "samples/") -> dict[str, pa.Table]:
    """Every Parquet part under `root` (a file:// store) whose key starts with `prefix`, by key."""
    parts = {}
    for path in sorted(root.rglob("*.parquet")):
        key = path.relative_to(root).as_posix()
        if key.startswith(prefix):
            parts[key] = pq.read_table(path)
    return parts


def s3_parts(s3: S3Server, prefix: str) -> dict[str, pa.Table]:
    """Every Parquet part in the S3 server's bucket whose key starts with `prefix`, by key."""
    return {
        key: pq.read_table(io.BytesIO(s3.read(key))) for key in s3.keys(prefix) if key.endswith(".parquet")
    }
