"""Two routers in one application's consumer group share its partitions; one is killed with SIGKILL
mid-stream and the other takes its partitions over from their last committed offsets: every message
still gets its answer. Duplicates (answered by the killed router after its last commit) are possible,
counted and reported.

The routers run as real `python -m router` processes; the catalog and the scaler are the stand-ins
(real gRPC) in the test's loop, and the replica a real runtime process.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.kafka_broker import KafkaBroker
from tests.ports import free_port
from tests.router.harness import wait_until
from tests.router.kafka_parts import Reader, kafka_snapshot, make_topics, metric, produce
from tests.router.standins import REPO_ROOT, SERVICE_TOKEN, CatalogStandIn, ScalerStandIn

MESSAGES = 3000


class RouterProcess:
    def __init__(self, name: str, process: asyncio.subprocess.Process, http_port: int) -> None:
        self.name = name
        self.process = process
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", timeout=10)

    async def metrics(self) -> str:
        return (await self.http.get("/metrics")).text

    def kill(self) -> None:
        if self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)


@pytest.fixture
async def stand_ins(
    tmp_path: Path, model_dirs: dict[str, Path]
) -> AsyncIterator[tuple[CatalogStandIn, ScalerStandIn]]:
    catalog = CatalogStandIn(kafka_snapshot({}))
    await catalog.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    scaler = ScalerStandIn(model_dirs, logs)
    await scaler.start()
    yield catalog, scaler
    await scaler.stop()
    await catalog.stop()


@contextlib.asynccontextmanager
async def router_process(
    name: str, catalog: CatalogStandIn, scaler: ScalerStandIn, broker: KafkaBroker, log: Path
) -> AsyncIterator[RouterProcess]:
    http_port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "HYDRO_BIND_HOST": "127.0.0.1",
        "HYDRO_ROUTER_HTTP_PORT": str(http_port),
        "HYDRO_ROUTER_GRPC_PORT": str(free_port()),
        "HYDRO_CATALOG_ADDRESS": catalog.address,
        "HYDRO_SCALER_ADDRESS": scaler.address,
        "HYDRO_ROUTER_ID": name,
        "HYDRO_SERVICE_TOKEN": SERVICE_TOKEN,
        "HYDRO_SONAR_ADDRESS": "",
        "HYDRO_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "HYDRO_ROUTER_KAFKA_SESSION_TIMEOUT_S": "6",
        "HYDRO_ROUTER_REQUEST_LOG_LEVEL": "WARNING",
    }
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "router", env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
        )
    router = RouterProcess(name, process, http_port)
    try:

        async def ready() -> bool:
            assert process.returncode is None, f"router {name} exited: {log.read_text()[-2000:]}"
            with contextlib.suppress(httpx.HTTPError):
                return (await router.http.get("/v2/health/ready")).status_code == 200
            return False

        await wait_until(ready, 20, f"router {name} ready")
        yield router
    finally:
        router.kill()
        await process.wait()
        await router.http.aclose()


@pytest.mark.slow
async def test_a_router_killed_mid_stream_loses_no_message(
    kafka_broker: KafkaBroker, stand_ins: tuple[CatalogStandIn, ScalerStandIn], tmp_path: Path
) -> None:
    catalog, scaler = stand_ins
    topics = await make_topics(kafka_broker, "failover", 6)
    await catalog.publish(kafka_snapshot({"double": topics.binding("hydro.double")}, revision=2))
    async with (
        router_process("router-a", catalog, scaler, kafka_broker, tmp_path / "a.log") as a,
        router_process("router-b", catalog, scaler, kafka_broker, tmp_path / "b.log") as b,
    ):

        async def shared() -> bool:
            held = [
                metric(await r.metrics(), "hydro_router_kafka_partitions", application="double")
                for r in (a, b)
            ]
            return sum(held) == 6 and min(held) > 0

        await wait_until(shared, 30, "the six partitions shared by both routers")

        async def stream() -> None:
            for start in range(0, MESSAGES, 100):  # a steady stream, not one burst
                batch = [
                    (
                        f"k{i}".encode(),
                        orjson.dumps({"x": [float(i)]}),
                        [("x-request-id", f"r-{i}".encode())],
                        i % 6,
                    )
                    for i in range(start, start + 100)
                ]
                await produce(kafka_broker, topics.source, batch)
                await asyncio.sleep(0.05)

        producing = asyncio.create_task(stream())
        async with Reader(kafka_broker, topics.destination) as answers:
            await answers.until(MESSAGES // 4, timeout=40)
            a.kill()  # SIGKILL: no goodbye to the group, no last commit
            await producing

            async def all_answered() -> bool:
                await answers.settle(0.2)
                return _answered(answers) == MESSAGES

            await wait_until(all_answered, 60, "an answer for every message")
            await answers.settle(1.0)

        counts = collections.Counter(r.headers["x-request-id"] for r in answers.records)
        assert set(counts) == {f"r-{i}".encode() for i in range(MESSAGES)}, "no message lost"
        for record in answers.records:
            i = int(record.key[1:])
            assert record.json() == {"y": [2.0 * i]}
        duplicates = sum(counts.values()) - MESSAGES
        print(f"\n{MESSAGES} messages, {duplicates} answered twice after the SIGKILL of router-a")
        assert all(n <= 2 for n in counts.values())
        b_metrics = await b.metrics()
        assert metric(b_metrics, "hydro_router_kafka_partitions", application="double") == 6
        assert metric(b_metrics, "hydro_router_kafka_rebalances_total", application="double") >= 2


def _answered(reader: Reader) -> int:
    return len({r.headers["x-request-id"] for r in reader.records})
