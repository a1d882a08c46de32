"""The Kafka edge against the HTTP edge, in one run, on one trivial model.

The platform runs as real processes on PostgreSQL, the Docker runtime and the registry (`bench.harness`),
its router and control plane pointed at the Tansu broker the service script started. One application
serves bench/models/row-sum (the sum of each row of an FP32 [1, 8] input) over both edges, plain form:
`POST /apps/{app}` and messages `{"x": [[...]]}` on its source topic (8 partitions; answers on an
8-partition destination topic). It prints:

  (a) at each concurrency, messages/s and end-to-end p50/p99 through the Kafka edge, a closed loop of
      `c` messages in flight (a new message is produced when an answer is consumed; latency = produce ->
      answer consumed by this process), and the same load over the HTTP edge (`c` callers back to back);
      one replica pinned (min = max = 1, no container_concurrency limit, so the edge sends up to its
      default 32 messages per replica at once);
  (b) a backlog of N messages produced at once, drained by the Kafka edge at its own pace (at most 32 in
      the data plane for the one replica), messages/s from the first produce to the last answer read;
  (c) the time from the first message at zero to its answer, against one HTTP request at zero, the version
      scaled to zero between tries (`scale_to_zero_grace_s: 0.5`);
  (d) for scale, one hop through the broker alone (produce -> read by a consumer), with aiokafka's default
      `fetch_max_wait_ms` (500) and with this client's 10 ms: Tansu holds a fetch until that wait is over
      even when a record arrives, which bounds a closed loop's latency (the edge's consumer waits
      HYDRO_ROUTER_KAFKA_FETCH_MAX_WAIT_MS, 10 ms by default, for that reason).

The load generator is one asyncio process on the same two cores as the platform and the broker (aiokafka
for Kafka, aiohttp for HTTP), so the figures are what this machine does end to end, client included.

Run: `.venv/bin/python -m bench.kafka` (the broker: `scripts/services.sh start`; `--seconds 10` for
steadier figures).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import httpx
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.harness import bench_platform, containers, percentile
from bench.router import EXPECTED, MODEL_FOLDER, ROW, Result, _drive, _plain_answer, http_case
from tests.e2e.platform import Platform
from tests.e2e.stories import wait_until
from tests.kafka_broker import ADDRESS_FILE, KafkaBroker

CONFIG = "kafka-bench"
PARTITIONS = 8
EDGE_WINDOW = 32
"""The Kafka edge's messages in the data plane per replica without a container_concurrency (its default)."""
BODY = json.dumps({"x": [ROW]}).encode()


def broker_address() -> str:
    address = os.environ.get("HYDRO_TEST_KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if not address and ADDRESS_FILE.exists():
        address = ADDRESS_FILE.read_text().strip()
    if not address:
        raise SystemExit(f"no Kafka broker: {ADDRESS_FILE} is missing; `scripts/services.sh start` starts it")
    return address


# --- the application ------------------------------------------------------------------------------


def deploy(platform: Platform, home: Path, broker: KafkaBroker) -> tuple[str, str, str]:
    """row-sum, one replica pinned, as an application with a Kafka endpoint; (app, source, destination)."""
    name = f"row-sum-{uuid.uuid4().hex[:6]}"
    folder = home / name
    shutil.copytree(MODEL_FOLDER, folder)
    manifest = (folder / "hydro.yaml").read_text().replace("name: row-sum", f"name: {name}", 1)
    (folder / "hydro.yaml").write_text(manifest)
    platform.put_deployment_config(CONFIG, min_replicas=1, max_replicas=1, cpu=2.0)
    deployed = platform.hydro("deploy", str(folder), "--app", name, "--deployment-config", CONFIG)
    if deployed.returncode != 0:
        raise SystemExit(f"deploy failed: {deployed.stderr}")
    source, destination = broker.topic(f"{name}-in", PARTITIONS), broker.topic(f"{name}-out", PARTITIONS)
    body = {
        "stages": [{"variants": [{"model": name, "version": 1, "weight": 100, "deployment_config": CONFIG}]}],
        "kafka": {
            "source_topic": source,
            "destination_topic": destination,
            "error_topic": broker.topic(f"{name}-err", 1),
        },
    }
    response = httpx.put(
        f"{platform.api}/applications/{name}", json=body, headers=platform.headers(), timeout=30
    )
    if response.status_code != 200:
        raise SystemExit(f"declaring the Kafka endpoint failed: {response.status_code} {response.text}")
    wait_until(lambda: _partitions_held(platform, name) == PARTITIONS, 60, "the router holds the partitions")
    httpx.post(f"{platform.router}/apps/{name}", json={"x": [ROW]}, timeout=120).raise_for_status()
    return name, source, destination


def _partitions_held(platform: Platform, app: str) -> float:
    for line in httpx.get(f"{platform.router}/metrics", timeout=5).text.splitlines():
        if line.startswith("hydro_router_kafka_partitions") and f'application="{app}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# --- the Kafka client -----------------------------------------------------------------------------


class KafkaCaller:
    """Produces requests to the source topic and resolves each when its answer (same key) is read."""

    def __init__(self, bootstrap: str, source: str, destination: str) -> None:
        self.bootstrap = bootstrap
        self.source = source
        self.destination = destination
        self.waiting: dict[bytes, asyncio.Future[float]] = {}
        self._keys = itertools.count()
        self._prefix = uuid.uuid4().hex[:8]
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10
        )
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> KafkaCaller:
        await self.producer.start()
        await self.consumer.start()
        partitions = [TopicPartition(self.destination, p) for p in range(PARTITIONS)]
        self.consumer.assign(partitions)
        await self.consumer.seek_to_end(*partitions)
        for partition in partitions:
            await self.consumer.position(partition)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.consumer.stop()
        await self.producer.stop()

    async def _read(self) -> None:
        while True:
            batches = await self.consumer.getmany(timeout_ms=100, max_records=2000)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    future = self.waiting.pop(record.key, None)
                    if future is not None and not future.done():
                        future.set_result(now)

    def _key(self) -> bytes:
        return f"{self._prefix}-{next(self._keys)}".encode()

    async def send(self) -> asyncio.Future[float]:
        """Produce one request; a future of the time its answer was read."""
        key = self._key()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        await self.producer.send(self.source, BODY, key=key)
        return future

    async def call(self) -> None:
        """One request, produce to answer read (the closed loop's unit)."""
        await asyncio.wait_for(await self.send(), 30)


async def kafka_case(caller: KafkaCaller, concurrency: int, seconds: float) -> Result:
    start = time.perf_counter()
    latencies, failures = await _drive(caller.call, concurrency, seconds)
    elapsed = time.perf_counter() - start - 1.0
    return Result("Kafka edge, closed loop", concurrency, len(latencies), elapsed, latencies, failures)


async def backlog_case(caller: KafkaCaller, count: int) -> tuple[float, float]:
    """`count` messages produced at once; (messages/s drained, seconds from first produce to last answer)."""
    start = time.perf_counter()
    futures = [await caller.send() for _ in range(count)]
    await caller.producer.flush()
    done = await asyncio.wait_for(asyncio.gather(*futures), 120)
    elapsed = max(done) - start
    return count / elapsed, elapsed


async def broker_hop(bootstrap: str, topic: str, fetch_max_wait_ms: int, tries: int) -> list[float]:
    """Seconds from producing one message (acknowledged) to a consumer reading it, the broker alone, with
    the consumer's `fetch_max_wait_ms`; messages `tries` times at uneven gaps."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=fetch_max_wait_ms
    )
    await producer.start()
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_end(partition)
        await consumer.position(partition)
        found = []
        for i in range(tries):
            await asyncio.sleep(0.05 + 0.037 * (i % 7))
            started = time.perf_counter()
            await (await producer.send(topic, b"{}"))
            while not await consumer.getmany(partition, timeout_ms=2000):
                pass
            found.append(time.perf_counter() - started)
        return found
    finally:
        await consumer.stop()
        await producer.stop()


# --- cold starts ----------------------------------------------------------------------------------


@contextmanager
def at_zero_between_tries(platform: Platform) -> Iterator[None]:
    """The version may scale to zero (grace 0.5 s) while in the block; pinned again afterwards."""
    platform.put_deployment_config(
        CONFIG, min_replicas=0, max_replicas=1, cpu=2.0, scale_to_zero_grace_s=0.5, stable_window_s=2.0
    )
    try:
        yield
    finally:
        platform.put_deployment_config(CONFIG, min_replicas=1, max_replicas=1, cpu=2.0)


def wait_zero(app: str) -> None:
    wait_until(lambda: not containers(f"{app}:1", include_stopped=False), 60, f"{app} has no replica", 0.1)


async def cold_starts(
    platform: Platform, app: str, caller: KafkaCaller, tries: int
) -> dict[str, list[float]]:
    """Seconds from one message (or one HTTP request) at zero to its answer, `tries` of each, in turn."""
    found: dict[str, list[float]] = {"kafka": [], "http": []}
    async with aiohttp.ClientSession() as session:
        for _ in range(tries):
            await asyncio.to_thread(wait_zero, app)
            started = time.perf_counter()
            answered = await asyncio.wait_for(await caller.send(), 60)
            found["kafka"].append(answered - started)

            await asyncio.to_thread(wait_zero, app)
            started = time.perf_counter()
            async with session.post(
                f"{platform.router}/apps/{app}", data=BODY, headers={"Content-Type": "application/json"}
            ) as response:
                answer = await response.json()
            found["http"].append(time.perf_counter() - started)
            assert response.status == 200 and _plain_answer(answer) == EXPECTED, answer
    return found


# --- the run --------------------------------------------------------------------------------------


def row(result: Result, name: str) -> str:
    p50, p99 = (percentile(result.latencies, q) * 1000 for q in (50, 99))
    return (
        f"  {name:<30} c={result.concurrency:<3} {result.requests / result.seconds:8.0f} msg/s   "
        f"p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   failed {result.failures}"
    )


async def run(
    platform: Platform,
    app: str,
    bootstrap: str,
    topics: tuple[str, str, str],
    args: argparse.Namespace,
) -> None:
    source, destination, hop = topics
    url = f"{platform.router}/apps/{app}"
    print(
        f"\n(a) Kafka edge vs HTTP edge, one replica, {args.seconds:.0f} s each after 1 s warm-up", flush=True
    )
    async with KafkaCaller(bootstrap, source, destination) as caller:
        await caller.call()
        for concurrency in args.concurrency:
            kafka = await kafka_case(caller, concurrency, args.seconds)
            print(row(kafka, "Kafka edge (produce -> answer)"), flush=True)
            http = await http_case("HTTP", url, {"x": [ROW]}, _plain_answer, concurrency, args.seconds)
            print(row(http, "HTTP edge, plain form"), flush=True)
            ratio = (kafka.requests / kafka.seconds) / (http.requests / http.seconds)
            print(f"  {'Kafka / HTTP throughput':<30} c={concurrency:<3} {ratio:8.2f}x", flush=True)

        rate, elapsed = await backlog_case(caller, args.backlog)
        print(
            f"\n(b) backlog of {args.backlog} messages drained by the Kafka edge "
            f"(<= {EDGE_WINDOW} in flight): {rate:.0f} msg/s ({elapsed:.2f} s)",
            flush=True,
        )

        with at_zero_between_tries(platform):
            found = await cold_starts(platform, app, caller, args.cold)
    print(f"\n(c) first answer at zero, {args.cold} tries each (p50 / max, each try):")
    for transport, label in (
        ("kafka", "first message -> its answer"),
        ("http", "one HTTP request -> answer"),
    ):
        times = [t * 1000 for t in found[transport]]
        print(
            f"  {label:<30} {float(np.median(times)):7.0f} ms / {max(times):5.0f} ms   "
            f"({', '.join(f'{t:.0f}' for t in times)})"
        )
    print(
        "\n(d) for scale: one hop through the broker alone (produce, acknowledged -> read), p50 / max of 20:"
    )
    for wait_ms, label in ((500, "aiokafka's default"), (10, "this client's")):
        times = [t * 1000 for t in await broker_hop(bootstrap, hop, wait_ms, 20)]
        print(
            f"  fetch_max_wait_ms={wait_ms:<4} ({label:<18}) "
            f"{float(np.median(times)):7.1f} ms / {max(times):6.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per case")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--backlog", type=int, default=3000, help="messages in the backlog case")
    parser.add_argument("--cold", type=int, default=3, help="cold starts of each kind")
    args = parser.parse_args()
    bootstrap = broker_address()
    broker = KafkaBroker(bootstrap)
    started = time.perf_counter()
    extra = {k: v for k, v in os.environ.items() if k.startswith("HYDRO_ROUTER_KAFKA_")}
    with bench_platform(HYDRO_KAFKA_BOOTSTRAP_SERVERS=bootstrap, **extra) as (platform, home):
        app, source, destination = deploy(platform, home, broker)
        print(f"platform up and {app} deployed in {time.perf_counter() - started:.1f} s (Docker runtime)")
        hop = broker.topic("bench-hop", 1)
        asyncio.run(run(platform, app, bootstrap, (source, destination, hop), args))
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
