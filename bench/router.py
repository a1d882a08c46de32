"""Router overhead and throughput against direct gRPC and against Seldon MLServer, on one trivial model.

In one run, on the same model (bench/models/row-sum: the sum of each row of an FP32 [1, 8] input), prints
requests/s and p50/p99 latency at concurrency 1 and 64 for:

  (a) direct gRPC to the model container (Hydro's runtime, bypassing the router) at its bridge address,
      the address the router calls it at; (a') the same at the port docker publishes it on (127.0.0.1,
      through docker's userland proxy), which is how a caller on the host reaches a container directly
  (b) Hydro's router over gRPC (ModelInfer, typed contents)
  (c) Hydro's router over HTTP JSON (Open Inference Protocol `POST /v2/models/{app}/infer`, and the plain form
      `POST /apps/{app}`)
  (d) MLServer serving the same RowSum class with a custom runtime, over its own V2 REST and gRPC
  (e) for scale: one bare Python gRPC hop in front of the container (bench/grpc_hop.py forwards the bytes
      and does nothing else), the floor any Python process in the call path costs on this machine

Hydro runs as real processes on the Docker runtime with one replica pinned (min = max = 1, no CPU limit
below the machine's two cores); MLServer runs as one host process with its default settings, installed
in the benchmark's own virtualenv (.cache/bench-mlserver-venv, created on first use from PyPI). The load
generator is one process on the same two cores as the servers (a blocking gRPC stub at concurrency 1,
grpc.aio and aiohttp otherwise), so the figures are what this machine can do end to end, client included.

Run: `.venv/bin/python -m bench.router` (add `--seconds 10` for steadier figures).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import multiprocessing
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import grpc
import httpx
import numpy as np

from bench.harness import bench_platform, bridge_address, containers, host_port
from bench.mlserver_peer import MLServer, start_mlserver
from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.e2e.platform import Platform
from tests.ports import free_port

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
MODEL_FOLDER = BENCH / "models" / "row-sum"
ROW = [float(i) for i in range(8)]
EXPECTED = float(sum(ROW))


@dataclass
class Result:
    name: str
    concurrency: int
    requests: int
    seconds: float
    latencies: list[float]
    failures: int

    def line(self) -> str:
        p50, p99 = (float(np.percentile(self.latencies, q)) * 1000 for q in (50, 99))
        rps = self.requests / self.seconds
        return (
            f"  {self.name:<34} c={self.concurrency:<3} {rps:8.0f} req/s   p50 {p50:6.2f} ms   "
            f"p99 {p99:6.2f} ms   failed {self.failures}"
        )


async def _drive(
    call: Callable[[], Awaitable[None]], concurrency: int, seconds: float
) -> tuple[list[float], int]:
    """`concurrency` workers call back to back for `seconds` (after a one-second warm-up)."""
    latencies: list[float] = []
    failures = 0
    measuring = False
    stop_at = 0.0

    async def worker() -> None:
        nonlocal failures
        while True:
            now = time.perf_counter()
            if measuring and now >= stop_at:
                return
            try:
                await call()
            except Exception:
                failures += measuring
                continue
            if measuring:
                latencies.append(time.perf_counter() - now)

    async def timer() -> None:
        nonlocal measuring, stop_at
        await asyncio.sleep(1.0)
        stop_at = time.perf_counter() + seconds
        measuring = True

    await asyncio.gather(timer(), *(worker() for _ in range(concurrency)))
    return latencies, failures


def _infer_request(model: str) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name=model)
    tensor = request.inputs.add(name="x", datatype="FP32", shape=[1, 8])
    tensor.contents.fp32_contents.extend(ROW)
    return request


def _answer_from_grpc(response: pb.ModelInferResponse) -> float:
    output = response.outputs[0]
    if output.contents.fp32_contents:
        return float(output.contents.fp32_contents[0])
    return float(np.frombuffer(response.raw_output_contents[0], dtype=np.float32)[0])


async def grpc_case(name: str, address: str, model: str, concurrency: int, seconds: float) -> Result:
    """gRPC callers: at concurrency 1 one blocking caller in a fresh process, grpc.aio above.

    grpc.aio's poller adds about a millisecond per call when calls do not overlap, and once a process has
    used grpc.aio its blocking calls are slower too; either would hide what the servers cost.
    """
    if concurrency == 1:
        spawn = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as fresh:
            future = fresh.submit(_sequential_grpc_case, name, address, model, seconds)
            return await asyncio.wrap_future(future)
    request = _infer_request(model)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        first = await stub.ModelInfer(request, timeout=30)
        assert _answer_from_grpc(first) == EXPECTED, f"{name}: wrong answer {first}"

        async def call() -> None:
            await stub.ModelInfer(request, timeout=30)

        start = time.perf_counter()
        latencies, failures = await _drive(call, concurrency, seconds)
        elapsed = time.perf_counter() - start - 1.0
    return Result(name, concurrency, len(latencies), elapsed, latencies, failures)


def _sequential_grpc_case(name: str, address: str, model: str, seconds: float) -> Result:
    request = _infer_request(model)
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        first = stub.ModelInfer(request, timeout=30)
        assert _answer_from_grpc(first) == EXPECTED, f"{name}: wrong answer {first}"
        warm_until = time.perf_counter() + 1.0
        while time.perf_counter() < warm_until:
            stub.ModelInfer(request, timeout=30)
        latencies: list[float] = []
        failures = 0
        start = time.perf_counter()
        stop_at = start + seconds
        while (now := time.perf_counter()) < stop_at:
            try:
                stub.ModelInfer(request, timeout=30)
            except grpc.RpcError:
                failures += 1
                continue
            latencies.append(time.perf_counter() - now)
        elapsed = time.perf_counter() - start
    return Result(name, 1, len(latencies), elapsed, latencies, failures)


async def http_case(
    name: str,
    url: str,
    body: dict[str, object],
    answer: Callable[[dict[str, object]], float],
    concurrency: int,
    seconds: float,
) -> Result:
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(url, data=payload, headers=headers) as first:
            assert first.status == 200, f"{name}: {first.status} {await first.text()}"
            assert answer(await first.json()) == EXPECTED, f"{name}: wrong answer"

        async def call() -> None:
            async with session.post(url, data=payload, headers=headers) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(response.status)

        start = time.perf_counter()
        latencies, failures = await _drive(call, concurrency, seconds)
        elapsed = time.perf_counter() - start - 1.0
    return Result(name, concurrency, len(latencies), elapsed, latencies, failures)


def _v2_body() -> dict[str, object]:
    return {"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": [ROW]}]}


def _v2_answer(body: dict[str, object]) -> float:
    outputs = body["outputs"]
    assert isinstance(outputs, list)
    data = outputs[0]["data"]
    return float(np.asarray(data, dtype=np.float64).ravel()[0])


def _plain_answer(body: dict[str, object]) -> float:
    return float(np.asarray(body["y"], dtype=np.float64).ravel()[0])


# --- Hydro -------------------------------------------------------------------------------------------------


def deploy_row_sum(platform: Platform, home: Path) -> tuple[str, str, str]:
    """Deploy the model with one replica pinned; return the application name and the replica's gRPC
    addresses: on the bridge (where the router calls it) and its published port."""
    name = f"row-sum-{uuid.uuid4().hex[:6]}"
    folder = home / name
    shutil.copytree(MODEL_FOLDER, folder)
    manifest = (folder / "hydro.yaml").read_text().replace("name: row-sum", f"name: {name}", 1)
    (folder / "hydro.yaml").write_text(manifest)
    platform.put_deployment_config("bench-pinned", min_replicas=1, max_replicas=1, cpu=2.0)
    deployed = platform.hydro("deploy", str(folder), "--app", name, "--deployment-config", "bench-pinned")
    if deployed.returncode != 0:
        raise SystemExit(f"deploy failed: {deployed.stderr}")
    httpx.post(f"{platform.router}/apps/{name}", json={"x": [ROW]}, timeout=120).raise_for_status()
    [container] = containers(f"{name}:1", include_stopped=False)
    return name, bridge_address(container), f"127.0.0.1:{host_port(container)}"


async def run_cases(
    platform: Platform, app: str, replica: str, published: str, mlserver: MLServer, hop: str, seconds: float
) -> list[Result]:
    results = []
    for concurrency in (1, 64):
        results += [
            await grpc_case("(e) one bare Python gRPC hop", hop, app, concurrency, seconds),
            await grpc_case("(a) direct gRPC to the container", replica, app, concurrency, seconds),
            await grpc_case("(a') direct, its published port", published, app, concurrency, seconds),
            await grpc_case("(b) Hydro router, gRPC", platform.router_grpc, app, concurrency, seconds),
            await http_case(
                "(c) Hydro router, HTTP V2 JSON",
                f"{platform.router}/v2/models/{app}/infer",
                _v2_body(),
                _v2_answer,
                concurrency,
                seconds,
            ),
            await http_case(
                "(c') Hydro router, HTTP plain JSON",
                f"{platform.router}/apps/{app}",
                {"x": [ROW]},
                _plain_answer,
                concurrency,
                seconds,
            ),
            await grpc_case("(d) MLServer, gRPC", mlserver.grpc, "row-sum", concurrency, seconds),
            await http_case(
                "(d) MLServer, V2 REST JSON",
                f"{mlserver.http}/v2/models/row-sum/infer",
                _v2_body(),
                _v2_answer,
                concurrency,
                seconds,
            ),
        ]
        for result in results[-8:]:
            print(result.line(), flush=True)
    return results


def summarize(results: list[Result]) -> None:
    def find(prefix: str, concurrency: int) -> Result:
        return next(r for r in results if r.name.startswith(prefix) and r.concurrency == concurrency)

    def p50(result: Result) -> float:
        return float(np.percentile(result.latencies, 50)) * 1000

    overhead = p50(find("(b)", 1)) - p50(find("(a)", 1))
    over_published = p50(find("(b)", 1)) - p50(find("(a')", 1))
    floor = p50(find("(e)", 1)) - p50(find("(a)", 1))
    print()
    print(f"router overhead over direct gRPC, p50 at c=1: {overhead:.2f} ms (target <= 1 ms)")
    print(f"  over direct gRPC to the published port: {over_published:.2f} ms")
    print(f"  for scale, one bare Python gRPC hop (bench.grpc_hop) over direct, p50 at c=1: {floor:.2f} ms")

    def rate(prefix: str, concurrency: int) -> float:
        result = find(prefix, concurrency)
        return result.requests / result.seconds

    for concurrency in (1, 64):
        best_hydro = max(rate(prefix, concurrency) for prefix in ("(b)", "(c)", "(c')"))
        best_mlserver = max(
            rate(prefix, concurrency) for prefix in ("(d) MLServer, gRPC", "(d) MLServer, V2")
        )
        print(
            f"c={concurrency}: best Hydro-through-router {best_hydro:.0f} req/s vs best MLServer direct "
            f"{best_mlserver:.0f} req/s (ratio {best_hydro / best_mlserver:.2f}, target >= 1); "
            f"gRPC to gRPC {rate('(b)', concurrency) / rate('(d) MLServer, gRPC', concurrency):.2f}, "
            f"V2 JSON to V2 JSON {rate('(c)', concurrency) / rate('(d) MLServer, V2', concurrency):.2f}"
        )
    failed = sum(r.failures for r in results)
    print(f"failed requests: {failed}")
    if failed:
        raise SystemExit(1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case")
    args = parser.parse_args()

    with bench_platform() as (platform, home):
        mlserver = start_mlserver(home)
        hop: subprocess.Popen[bytes] | None = None
        try:
            app, replica, published = deploy_row_sum(platform, home)
            hop_port = free_port()
            hop = start_hop(hop_port, replica)
            print(f"{args.seconds:.0f} s per case after 1 s warm-up; one asyncio client process")
            results = asyncio.run(
                run_cases(platform, app, replica, published, mlserver, f"127.0.0.1:{hop_port}", args.seconds)
            )
            summarize(results)
        finally:
            mlserver.process.terminate()
            mlserver.process.wait(timeout=30)
            if hop is not None:
                hop.terminate()
                hop.wait(timeout=30)


def start_hop(port: int, target: str) -> subprocess.Popen[bytes]:
    """The bare pass-through proxy (bench/grpc_hop.py) in a process of its own, once it listens."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.grpc_hop", str(port), target], stdout=subprocess.PIPE, cwd=REPO_ROOT
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"listening":
        process.kill()
        raise SystemExit("the bare gRPC hop did not start")
    return process


if __name__ == "__main__":
    main()
