"""What each cold-start lever of the scaler's docker backend buys, measured at the scaler.

One real scaler per configuration (docker backend, the test registry's tiny model image, already on
the host) runs side by side; the cycles take turns, one cold start of each configuration per round,
so that the noise of a shared machine falls on all of them alike. A cold start is Activate -> ready
endpoint -> first answer. It prints the median and p95 of that, and the median of every phase the
scaler recorded (`hydro_scaler_replica_start_seconds`). Before each cold start the version is at zero
and that scaler's holder pool is full. Levers that are not settings apply to every configuration alike:
the listen check before ModelReady (`scaler/probe.py`) and the numeric thread pools sized to the CPU
limit (`scaler/runtimes/docker.py`); their effect is measured against the previous code, not here.

    .venv/bin/python -m bench.scaler_levers --cycles 15
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import httpx
import numpy as np

from tests.real_parts import require_docker_parts
from tests.scaler.catalog import CatalogServer, Version, snapshot
from tests.scaler.harness import RunningScaler, ready_ids, scaler_settings
from tests.scaler.images import build_and_push
from tests.scaler.test_process_scaler import infer

MODEL = "bench-levers"
KEY = f"{MODEL}:1"
OLD_PROBES = {"scaler_probe_interval_s": 0.02, "scaler_probe_max_interval_s": 0.25}
FAST_PROBES = {"scaler_probe_interval_s": 0.005, "scaler_probe_max_interval_s": 0.05}
CONFIGS: dict[str, dict[str, Any]] = {
    "before: probes 20 ms, own network": {**OLD_PROBES, "scaler_netns_holders": 0},
    "fast probes (5 -> 50 ms)": {**FAST_PROBES, "scaler_netns_holders": 0},
    "holders (probes 20 ms)": {**OLD_PROBES, "scaler_netns_holders": 2},
    "fast probes + holders": {**FAST_PROBES, "scaler_netns_holders": 2},
    "fast probes + holders + spares": {**FAST_PROBES, "scaler_netns_holders": 2, "scaler_spares": True},
}
PHASES = ("holder-wait", "create", "start", "launch", "first-ready", "total")


@dataclass
class Subject:
    name: str
    idle_containers: int
    """Containers the scaler keeps while the version is at zero: idle holders, a spare and its holder."""
    scaler: RunningScaler
    instance: str
    totals: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PHASES})
    sums: dict[str, float] = field(default_factory=dict)


def phase_sums(text: str) -> dict[str, float]:
    sums = {}
    for line in text.splitlines():
        if line.startswith("hydro_scaler_replica_start_seconds_sum{"):
            phase = line.split('phase="')[1].split('"')[0]
            sums[phase] = float(line.split()[-1])
    return sums


def owned(client: docker.DockerClient, instance: str) -> int:
    return len(client.api.containers(all=True, filters={"label": f"hydro.scaler={instance}"}))


async def cold_start(client: docker.DockerClient, http: httpx.AsyncClient, subject: Subject) -> None:
    watch = subject.scaler.watch()
    await watch.until(lambda s: ready_ids(s, KEY) == [], "at zero", timeout=60)
    while owned(client, subject.instance) != subject.idle_containers:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)
    began = time.perf_counter()
    await subject.scaler.activate(KEY)
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "ready", timeout=60)
    assert await infer(state[KEY].ready[0].address, [1.0], MODEL) == [2.0]
    subject.totals.append(time.perf_counter() - began)
    url = f"http://127.0.0.1:{subject.scaler.settings.scaler_metrics_port}/metrics"
    after = phase_sums((await http.get(url)).text)
    for phase in PHASES:
        if phase in after:
            subject.phases[phase].append(after[phase] - subject.sums.get(phase, 0.0))
    subject.sums = after
    await watch.until(lambda s: ready_ids(s, KEY) == [], "back at zero", timeout=60)
    await watch.close()


def report(subject: Subject) -> None:
    ms = 1000.0
    p95 = float(np.percentile(np.array(subject.totals), 95))
    parts = ", ".join(f"{p} {statistics.median(v) * ms:.0f}" for p, v in subject.phases.items() if v)
    print(
        f"{subject.name:36s} Activate->answer median {statistics.median(subject.totals) * ms:4.0f} ms, "
        f"p95 {p95 * ms:4.0f} ms (n={len(subject.totals)}) | phase medians (ms): {parts}",
        flush=True,
    )


async def main_async(cycles: int, only: list[str]) -> None:
    client = require_docker_parts()
    with tempfile.TemporaryDirectory() as context:
        image = build_and_push(client, Path(context), MODEL, 1)
    catalog = CatalogServer(
        snapshot(1, [Version(MODEL, 1, image=image)], default={"scale_to_zero_grace_s": 0.3})
    )
    await catalog.start()
    subjects: list[Subject] = []
    run = uuid.uuid4().hex[:6]
    try:
        with tempfile.TemporaryDirectory() as home:
            for number, (name, overrides) in enumerate(CONFIGS.items()):
                if only and not any(word in name for word in only):
                    continue
                instance = f"bench-levers-{run}-{number}"
                settings = scaler_settings(
                    Path(home) / str(number),
                    catalog_address=catalog.address,
                    runtime="docker",
                    scaler_keep_containers=False,
                    scaler_instance=instance,
                    **overrides,
                )
                scaler = await RunningScaler(settings).start()
                idle = int(overrides["scaler_netns_holders"]) + (2 if overrides.get("scaler_spares") else 0)
                subjects.append(Subject(name, idle, scaler, instance))
            async with httpx.AsyncClient() as http:
                for _ in range(cycles):
                    for subject in subjects:
                        await cold_start(client, http, subject)
            for subject in subjects:
                report(subject)
    finally:
        for subject in subjects:
            await subject.scaler.stop()
        await catalog.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--only", nargs="*", default=[], help="run the configurations whose name has a word")
    args = parser.parse_args()
    asyncio.run(main_async(args.cycles, args.only))


if __name__ == "__main__":
    main()
