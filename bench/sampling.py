"""Router throughput with every invoke sampled to Sonar, against sampling off (issue 5: within 10%).

Real processes: the router (`python -m router`), Sonar (`python -m sonar`, local store) and one runtime
process serving the tests' `double` model; the catalog and the scaler are the router tests' stand-ins
(real gRPC servers in this process). Two applications route to the same version: `sampled`
(sampling_rate 1.0) and `unsampled` (0.0). Rounds alternate between them; in each, `--concurrency`
gRPC clients call ModelInfer back to back for `--seconds`.

CPU accounting: each round reads the CPU time (user + system, from /proc/PID/stat) of the router, Sonar
and the runtime from the start of its load until the router has every sampled record acknowledged and
Sonar has written every record it accepted as Parquet (so Sonar's backlog and its Parquet parts count in
the round that caused them), and of this process (the load generator and the stand-ins) during the load
only (not its polling while the others settle). It reports CPU-ms per request for each; where they share
the cores, the sampled rounds pay for Sonar's work too, and the summary separates the router's cost from
Sonar's.

    .venv/bin/python -m bench.sampling --rounds 3 --seconds 5 --concurrency 16 --items 8
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import httpx
import numpy as np

from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.ports import free_port
from tests.router import models
from tests.router.harness import write_models
from tests.router.standins import (
    SERVICE_TOKEN,
    CatalogStandIn,
    ScalerStandIn,
    application,
    config,
    snapshot,
    version,
)
from tests.sonar.harness import SonarProcess, parse_metrics, start_sonar
from wire.oip_grpc import encode_infer_request

REPO_ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PROCESSES = ("router", "sonar", "runtime", "bench")
"""Whose CPU time is read: the bench itself is the load generator plus the catalog and scaler stand-ins."""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process (all its threads) has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def cpu_all(pids: dict[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def bench_snapshot() -> object:
    sampled = application("sampled", [("double:1", 100)])
    unsampled = application("unsampled", [("double:1", 100)])
    sampled.sampling_rate, unsampled.sampling_rate = 1.0, 0.0
    return snapshot(1, [sampled, unsampled], [version("double", 1, models.X, models.Y)], [config("default")])


async def load(address: str, app: str, seconds: float, concurrency: int, items: int) -> list[float]:
    """Latencies of every call completed in `seconds` by `concurrency` back-to-back callers."""
    request = encode_infer_request(app, {"x": np.arange(items, dtype=np.float64)})
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        end = time.perf_counter() + seconds

        async def caller() -> None:
            while (now := time.perf_counter()) < end:
                await stub.ModelInfer(request, timeout=30)
                latencies.append(time.perf_counter() - now)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
    return latencies


async def run(rounds: int, seconds: float, concurrency: int, items: int, flush_age_s: float) -> None:
    with tempfile.TemporaryDirectory(prefix="hydro-bench-sampling-") as folder:
        tmp = Path(folder)
        (tmp / "logs").mkdir()
        catalog = CatalogStandIn(bench_snapshot())  # type: ignore[arg-type]
        await catalog.start()
        scaler = ScalerStandIn(write_models(tmp / "models"), tmp / "logs")
        await scaler.start()
        sonar = await start_sonar(
            tmp,
            catalog_address=catalog.address,
            object_store_url=(tmp / "objects").as_uri(),
            sonar_flush_age_s=flush_age_s,
        )
        http_port, grpc_port = free_port(), free_port()
        env = {
            **os.environ,
            "HYDRO_BIND_HOST": "127.0.0.1",
            "HYDRO_ROUTER_HTTP_PORT": str(http_port),
            "HYDRO_ROUTER_GRPC_PORT": str(grpc_port),
            "HYDRO_CATALOG_ADDRESS": catalog.address,
            "HYDRO_SCALER_ADDRESS": scaler.address,
            "HYDRO_SONAR_ADDRESS": sonar.address,
            "HYDRO_SERVICE_TOKEN": SERVICE_TOKEN,  # Sonar's (see tests/sonar/harness.py)
            "PYTHONPATH": str(REPO_ROOT),
        }
        router_log = (tmp / "router.log").open("wb")
        router = subprocess.Popen(
            [sys.executable, "-m", "router"], env=env, stdout=router_log, stderr=subprocess.STDOUT
        )
        address = f"127.0.0.1:{grpc_port}"
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}") as http:
                for _ in range(300):
                    try:
                        if (await http.get("/v2/health/ready")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.1)
                for app in ("sampled", "unsampled"):  # cold start the replica, warm the channels
                    await load(address, app, 1.0, 2, items)
                await settled(http, sonar)
                pids = {
                    "router": router.pid,
                    "sonar": sonar.process.pid,
                    "runtime": scaler.replicas[0].process.pid,
                    "bench": os.getpid(),
                }
                results: dict[str, list[float]] = {"sampled": [], "unsampled": []}
                latencies: dict[str, list[float]] = {"sampled": [], "unsampled": []}
                requests = dict.fromkeys(results, 0)
                cpu = {app: dict.fromkeys(PROCESSES, 0.0) for app in results}
                for number in range(rounds):
                    for app in ("unsampled", "sampled") if number % 2 == 0 else ("sampled", "unsampled"):
                        before = cpu_all(pids)
                        calls = await load(address, app, seconds, concurrency, items)
                        loaded = cpu_all(pids)
                        drain_s = await settled(http, sonar)
                        after = cpu_all(pids)
                        after["bench"] = loaded["bench"]  # not its polling while the others settle
                        results[app].append(len(calls) / seconds)
                        latencies[app].extend(calls)
                        requests[app] += len(calls)
                        for name in PROCESSES:
                            cpu[app][name] += after[name] - before[name]
                        busy = sum(loaded.values()) - sum(before.values())
                        per_request = "  ".join(
                            f"{name} {1000 * (after[name] - before[name]) / len(calls):.2f}"
                            for name in PROCESSES
                        )
                        print(
                            f"round {number + 1} {app:>9}: {len(calls) / seconds:8.1f} req/s; "
                            f"CPU-ms/req {per_request}; {busy / seconds:.2f} cores busy under load, "
                            f"drained in {drain_s:.2f} s"
                        )
                metrics = parse_metrics((await http.get("/metrics")).text)
                sonar_metrics = await sonar.metrics()
            for app in ("unsampled", "sampled"):
                p50 = statistics.median(latencies[app]) * 1000
                print(f"{app:>9}: mean {statistics.mean(results[app]):8.1f} req/s, p50 {p50:.2f} ms")
            ratio = statistics.mean(results["sampled"]) / statistics.mean(results["unsampled"])
            print(f"sampled / unsampled throughput: {ratio:.3f}")
            print("CPU-ms per request (all rounds, load and drain):")
            print(f"{'':>9}  " + "  ".join(f"{name:>8}" for name in (*PROCESSES, "total")))
            per: dict[str, dict[str, float]] = {}
            for app in ("unsampled", "sampled"):
                per[app] = {name: 1000 * cpu[app][name] / requests[app] for name in PROCESSES}
                per[app]["total"] = sum(per[app].values())
                print(f"{app:>9}  " + "  ".join(f"{per[app][name]:8.3f}" for name in (*PROCESSES, "total")))
            extra = {
                name: per["sampled"][name] - per["unsampled"][name] for name in ("router", "sonar", "total")
            }
            print(
                "sampling costs per request: router +{router:.3f} CPU-ms, Sonar +{sonar:.3f} CPU-ms, "
                "all processes +{total:.3f} CPU-ms".format(**extra)
            )
            without_sonar = per["unsampled"]["total"] / (per["sampled"]["total"] - per["sampled"]["sonar"])
            print(
                "CPU-bound estimate, Sonar on its own machine: total CPU-ms/req unsampled over sampled "
                f"without Sonar's = {without_sonar:.3f} (with Sonar's: "
                f"{per['unsampled']['total'] / per['sampled']['total']:.3f})"
            )
            counts = []
            for outcome in ("sampled", "sent", "acked", "rejected", "dropped"):
                name = 'hydro_router_sonar_records_total{outcome="' + outcome + '"}'
                counts.append(f"{outcome} {metrics.get(name, 0):.0f}")
            print("router's Sonar records: " + ", ".join(counts))
            batches = sonar_metrics.get("hydro_sonar_ingest_batches_total", 0)
            accepted = sonar_metrics.get('hydro_sonar_records_total{outcome="accepted"}', 0)
            parts = sonar_metrics.get("hydro_sonar_parts_written_total", 0)
            print(
                f"Sonar: {accepted:.0f} records accepted in {batches:.0f} batches "
                f"({accepted / max(batches, 1):.1f} a batch), written in {parts:.0f} Parquet parts"
            )
        finally:
            router.send_signal(signal.SIGTERM)
            router.wait(timeout=30)
            router_log.close()
            await sonar.stop()
            await scaler.stop()
            await catalog.stop()


async def settled(http: httpx.AsyncClient, sonar: SonarProcess, timeout_s: float = 60.0) -> float:
    """Wait until every record the router sampled is acknowledged or dropped, and Sonar has written (or
    dropped) every record it accepted; the seconds it took."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        metrics = parse_metrics((await http.get("/metrics")).text)
        count = {
            outcome: metrics.get('hydro_router_sonar_records_total{outcome="' + outcome + '"}', 0)
            for outcome in ("sampled", "acked", "rejected", "dropped")
        }
        if count["sampled"] <= count["acked"] + count["rejected"] + count["dropped"]:
            if (await sonar.metrics()).get("hydro_sonar_buffered_records", 0) == 0:
                break
        await asyncio.sleep(0.05)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--items", type=int, default=8, help="FP64 values per request (and per answer)")
    parser.add_argument(
        "--sonar-flush-age-s",
        type=float,
        default=1.0,
        help="Sonar writes a part once its oldest record is this old (its default is 60 s; short here so "
        "that each round pays for the Parquet it causes)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.seconds, args.concurrency, args.items, args.sonar_flush_age_s))


if __name__ == "__main__":
    main()
