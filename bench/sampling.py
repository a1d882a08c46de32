"""Router throughput with every invoke sampled to Sonar, against sampling off (issue 5: within 10%).

Real processes: the router (`python -m router`), Sonar (`python -m sonar`, local store) and one runtime
process serving the tests' `double` model; the catalog and the scaler are the router tests' stand-ins
(real gRPC servers in this process). Two applications route to the same version: `sampled`
(sampling_rate 1.0) and `unsampled` (0.0). Rounds alternate between them; in each, `--concurrency`
gRPC clients call ModelInfer back to back for `--seconds`.

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
from protos.tensors import encode_infer_request
from tests.ports import free_port
from tests.router import models
from tests.router.harness import write_models
from tests.router.standins import CatalogStandIn, ScalerStandIn, application, config, snapshot, version
from tests.sonar.harness import parse_metrics, start_sonar

REPO_ROOT = Path(__file__).resolve().parents[1]


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


async def run(rounds: int, seconds: float, concurrency: int, items: int) -> None:
    with tempfile.TemporaryDirectory(prefix="hydro-bench-sampling-") as folder:
        tmp = Path(folder)
        (tmp / "logs").mkdir()
        catalog = CatalogStandIn(bench_snapshot())  # type: ignore[arg-type]
        await catalog.start()
        scaler = ScalerStandIn(write_models(tmp / "models"), tmp / "logs")
        await scaler.start()
        sonar = await start_sonar(
            tmp, catalog_address=catalog.address, object_store_url=(tmp / "objects").as_uri()
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
                results: dict[str, list[float]] = {"sampled": [], "unsampled": []}
                latencies: dict[str, list[float]] = {"sampled": [], "unsampled": []}
                for number in range(rounds):
                    for app in ("unsampled", "sampled") if number % 2 == 0 else ("sampled", "unsampled"):
                        calls = await load(address, app, seconds, concurrency, items)
                        results[app].append(len(calls) / seconds)
                        latencies[app].extend(calls)
                        print(f"round {number + 1} {app:>9}: {len(calls) / seconds:8.1f} req/s")
                metrics = parse_metrics((await http.get("/metrics")).text)
            for app in ("unsampled", "sampled"):
                p50 = statistics.median(latencies[app]) * 1000
                print(f"{app:>9}: mean {statistics.mean(results[app]):8.1f} req/s, p50 {p50:.2f} ms")
            ratio = statistics.mean(results["sampled"]) / statistics.mean(results["unsampled"])
            print(f"sampled / unsampled throughput: {ratio:.3f}")
            counts = []
            for outcome in ("sampled", "sent", "acked", "rejected", "dropped"):
                name = 'hydro_router_sonar_records_total{outcome="' + outcome + '"}'
                counts.append(f"{outcome} {metrics.get(name, 0):.0f}")
            print("router's Sonar records: " + ", ".join(counts))
        finally:
            router.send_signal(signal.SIGTERM)
            router.wait(timeout=30)
            router_log.close()
            await sonar.stop()
            await scaler.stop()
            await catalog.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--items", type=int, default=8, help="FP64 values per request (and per answer)")
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.seconds, args.concurrency, args.items))


if __name__ == "__main__":
    main()
