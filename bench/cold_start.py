"""Cold start and router overhead on the real platform (PostgreSQL, Docker, registry).

Prints, over --cycles cold starts, the p50/p95 time from a request arriving at the router while the
version has zero replicas to its answer (the image is already on the host after the first pull),
and the warm per-request latency through the router against a direct gRPC call to the same
container. Run with `make bench` or `.venv/bin/python -m bench.cold_start --cycles 10`.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import grpc
import httpx
import numpy as np

from bench.harness import bench_platform, containers, deploy_example, host_port, percentile
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.e2e.platform import Platform
from tests.e2e.stories import wait_until
from wire import oip_grpc, plain_form

BODY = {"amount": [12.5], "country": ["DE"]}


def cold_starts(platform: Platform, app: str, key: str, cycles: int) -> list[float]:
    timings = []
    for cycle in range(cycles):
        wait_until(lambda: containers(key) == [], 60, "the version is at zero", interval=0.05)
        start = time.perf_counter()
        response = httpx.post(f"{platform.router}/apps/{app}", json=BODY, timeout=60)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        timings.append(elapsed)
        print(f"  cold start {cycle + 1:2d}: {elapsed * 1000:7.1f} ms")
    return timings


def warm_latencies(address: str, model_name: str, arrays: dict[str, np.ndarray], n: int) -> list[float]:
    request = oip_grpc.encode_infer_request(model_name, arrays)
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        for _ in range(50):
            stub.ModelInfer(request, timeout=10)
        timings = []
        for _ in range(n):
            start = time.perf_counter()
            stub.ModelInfer(request, timeout=10)
            timings.append(time.perf_counter() - start)
    return timings


def warm_http_latencies(url: str, n: int) -> list[float]:
    with httpx.Client(timeout=10) as client:
        for _ in range(50):
            client.post(url, json=BODY).raise_for_status()
        timings = []
        for _ in range(n):
            start = time.perf_counter()
            client.post(url, json=BODY).raise_for_status()
            timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--warm-requests", type=int, default=1000)
    args = parser.parse_args()

    with bench_platform() as (platform, home):
        run(platform, home, args.cycles, args.warm_requests)


def run(platform: Platform, home: Path, cycles: int, warm_requests: int) -> None:
    platform.put_deployment_config("bench", scale_to_zero_grace_s=0.5, stable_window_s=2.0)
    model = deploy_example(platform, home, "fraud-detector", "bench")
    key = f"{model}:1"
    # The first request pulls nothing (the image was built on this host) but warms the page cache.
    httpx.post(f"{platform.router}/apps/{model}", json=BODY, timeout=60).raise_for_status()

    print(f"cold starts ({cycles} cycles, image on the host):")
    cold = cold_starts(platform, model, key, cycles)

    platform.put_deployment_config("bench", scale_to_zero_grace_s=600.0, stable_window_s=60.0)
    httpx.post(f"{platform.router}/apps/{model}", json=BODY, timeout=60).raise_for_status()
    port = host_port(containers(key)[0])
    signature_body = httpx.get(
        f"{platform.api}/models/{model}/versions/1", headers=platform.headers()
    ).json()["signature"]
    from wire.signature import Signature

    arrays = plain_form.decode_plain_request(BODY, Signature.from_dict(signature_body))
    direct = warm_latencies(f"127.0.0.1:{port}", model, arrays, warm_requests)
    routed = warm_latencies(platform.router_grpc, model, arrays, warm_requests)
    plain_http = warm_http_latencies(f"{platform.router}/apps/{model}", warm_requests)

    ms = 1000.0
    print()
    print(f"cold start p50 {percentile(cold, 50) * ms:.0f} ms, p95 {percentile(cold, 95) * ms:.0f} ms")
    print(
        f"warm direct gRPC p50 {percentile(direct, 50) * ms:.2f} ms, p99 {percentile(direct, 99) * ms:.2f} ms"
    )
    print(
        f"warm via router  p50 {percentile(routed, 50) * ms:.2f} ms, p99 {percentile(routed, 99) * ms:.2f} ms"
    )
    print(f"warm via router, HTTP plain form p50 {percentile(plain_http, 50) * ms:.2f} ms")
    overhead = percentile(routed, 50) - percentile(direct, 50)
    mean_overhead = statistics.mean(routed) - statistics.mean(direct)
    print(f"router overhead p50 {overhead * ms:.2f} ms (mean {mean_overhead * ms:.2f} ms)")


if __name__ == "__main__":
    main()
