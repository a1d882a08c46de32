"""Autoscaling on the real platform (PostgreSQL, Docker, registry): cold starts, a step load, failures.

Deploys examples/fraud-detector with `hydro deploy` and prints:

(a) cold start p50/p95 over --cycles, the image on the host: one plain-form request sent to the
    router while the version has no container at all, timed until its answer; with the scaler's
    phases of each cold start, read from its /metrics (`hydro_scaler_replica_start_seconds`);
(b) time to first response at zero: --clients clients start at once against a version at zero;
(c) time until --replicas N replicas are ready under that step load (the deployment config asks for
    one request in flight per replica and at most N replicas);
(d) p99 latency of the requests sent during the ramp (from the step until N replicas are ready);
(e) failed requests over the whole run, which must be 0: the exit status is 1 otherwise.

Run with `.venv/bin/python -m bench.autoscale --cycles 10 --ramps 3`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from bench.harness import bench_platform, containers, deploy_example, percentile, scrape
from tests.e2e.background_load import Load, Outcome
from tests.e2e.platform import Platform
from tests.e2e.stories import wait_until

BODY = {"amount": [12.5], "country": ["DE"]}
CONFIG = "bench-autoscale"
START_METRIC = "hydro_scaler_replica_start_seconds"
# The cold-start phases the scaler is expected to report (issue 4: waiting for a network-namespace
# holder, create, start, launch = the backend's whole part, ready = until the first ModelReady answered);
# any others it reports (`pull` when the host lacked the image) are shown too.
EXPECTED_PHASES = ("holder-wait", "create", "start", "launch", "first-ready", "total")
MS = 1000.0


@dataclass
class Tally:
    """Every request the benchmark sent, and those that failed."""

    sent: int = 0
    failed: list[str] = field(default_factory=list)

    def add(self, outcomes: list[Outcome]) -> None:
        self.sent += len(outcomes)
        self.failed += [f"status {o.status}: {o.error}" for o in outcomes if not o.ok]


@dataclass
class ColdStart:
    seconds: float
    phases: dict[str, float]
    """The scaler's phases of this cold start (seconds), as its /metrics counted them."""


@dataclass
class Ramp:
    first_response_s: float
    to_replicas_s: float
    ramp_latencies: list[float]
    """Requests sent from the step until N replicas were ready (the first ones wait for a cold start)."""
    warm_latencies: list[float]
    """Those of them sent after the first answer (served while replicas are added)."""
    requests: int


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=10, help="cold starts to time (default 10)")
    parser.add_argument("--ramps", type=int, default=3, help="step loads from zero to time (default 3)")
    parser.add_argument("--replicas", type=int, default=3, help="N, the replicas a step load reaches")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the step load")
    parser.add_argument("--hold-s", type=float, default=2.0, help="seconds of load once N replicas are ready")
    args = parser.parse_args()
    if min(args.cycles, args.ramps, args.replicas, args.clients) < 1:
        parser.error("--cycles, --ramps, --replicas and --clients must be at least 1")

    tally = Tally()
    with bench_platform() as (platform, home):
        platform.put_deployment_config(CONFIG, **cold_config())
        model = deploy_example(platform, home, "fraud-detector", CONFIG)
        key = f"{model}:1"
        with httpx.Client(timeout=60) as client:
            # The first request warms the page cache; the image was built on this host, so nothing is pulled.
            client.post(f"{platform.router}/apps/{model}", json=BODY).raise_for_status()
            print(f"cold starts ({args.cycles} cycles, image on the host):")
            colds = list(cold_starts(platform, client, model, key, args.cycles, tally))

        platform.put_deployment_config(CONFIG, **step_config(args.replicas))
        print(f"step loads from zero ({args.ramps}, {args.clients} clients, up to {args.replicas} replicas):")
        ramps = list(step_loads(platform, model, key, args, tally))

    report(colds, ramps, args, tally)
    if tally.failed or tally.sent == 0:
        sys.exit(1)


def cold_config() -> dict[str, float]:
    """Back to zero half a second after each answer."""
    return {"scale_to_zero_grace_s": 0.5, "stable_window_s": 2.0}


def step_config(replicas: int) -> dict[str, float]:
    """One request in flight per replica, at most `replicas`; back to zero a second after the load."""
    return {
        "target_concurrency": 1,
        "max_replicas": replicas,
        "scale_to_zero_grace_s": 1.0,
        "stable_window_s": 2.0,
        "hold_timeout_s": 30,
    }


def wait_for_zero(key: str) -> None:
    wait_until(lambda: containers(key) == [], 60, f"{key} has no container", interval=0.05)


def start_phases(platform: Platform) -> dict[str, tuple[float, float]]:
    """(sum, count) of the scaler's cold-start histogram per phase, right now."""
    phases: dict[str, tuple[float, float]] = {}
    for (name, labels), value in scrape(platform.scaler_metrics).items():
        phase = dict(labels).get("phase")
        if phase is None or name not in (f"{START_METRIC}_sum", f"{START_METRIC}_count"):
            continue
        total, count = phases.get(phase, (0.0, 0.0))
        phases[phase] = (total + value, count) if name.endswith("_sum") else (total, count + value)
    return phases


def phase_deltas(
    before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]]
) -> dict[str, float]:
    """Mean seconds per phase of the starts counted between two scrapes."""
    deltas = {}
    for phase, (total, count) in after.items():
        old_total, old_count = before.get(phase, (0.0, 0.0))
        if count > old_count:
            deltas[phase] = (total - old_total) / (count - old_count)
    return deltas


def cold_starts(
    platform: Platform, client: httpx.Client, app: str, key: str, cycles: int, tally: Tally
) -> Iterator[ColdStart]:
    url = f"{platform.router}/apps/{app}"
    for cycle in range(cycles):
        wait_for_zero(key)
        before = start_phases(platform)
        sent = time.monotonic()
        try:
            response = client.post(url, json=BODY)
            outcome = Outcome(sent, time.monotonic() - sent, response.status_code)
            if response.status_code != 200:
                outcome = Outcome(sent, outcome.seconds, response.status_code, response.text[:300])
        except httpx.HTTPError as exc:
            outcome = Outcome(sent, time.monotonic() - sent, 0, f"{type(exc).__name__}: {exc}")
        tally.add([outcome])
        phases = phase_deltas(before, start_phases(platform))
        shown = ", ".join(f"{name} {seconds * MS:.0f}" for name, seconds in phases.items())
        status = "ok" if outcome.ok else f"FAILED ({outcome.error})"
        print(f"  cold start {cycle + 1:2d}: {outcome.seconds * MS:7.1f} ms  {status}  [scaler ms: {shown}]")
        if outcome.ok:
            yield ColdStart(outcome.seconds, phases)


def ready_replicas(platform: Platform, key: str) -> int:
    labels = (("state", "ready"), ("version", key))
    return int(scrape(platform.scaler_metrics).get(("hydro_scaler_replicas", labels), 0.0))


def step_loads(
    platform: Platform, app: str, key: str, args: argparse.Namespace, tally: Tally
) -> Iterator[Ramp]:
    for number in range(args.ramps):
        wait_for_zero(key)
        before = start_phases(platform)
        load = Load(f"{platform.router}/apps/{app}", BODY, args.clients).start()
        try:
            wait_until(
                lambda: ready_replicas(platform, key) >= args.replicas,
                60,
                f"{args.replicas} replicas are ready",
                interval=0.02,
            )
            reached = time.monotonic()
            time.sleep(args.hold_s)
        finally:
            outcomes = load.stop()
        tally.add(outcomes)
        phases = phase_deltas(before, start_phases(platform))
        first = load.first_answer_at()
        first_at = first if first is not None else reached
        during = [o for o in outcomes if o.ok and o.sent_at <= reached]
        ramp = Ramp(
            first_response_s=first_at - load.started_at,
            to_replicas_s=reached - load.started_at,
            ramp_latencies=[o.seconds for o in during],
            warm_latencies=[o.seconds for o in during if o.sent_at >= first_at],
            requests=len(outcomes),
        )
        failed = sum(1 for o in outcomes if not o.ok)
        print(
            f"  step {number + 1}: first response {ramp.first_response_s * MS:6.0f} ms, "
            f"{args.replicas} ready after {ramp.to_replicas_s * MS:6.0f} ms, "
            f"{ramp.requests} requests, {failed} failed  "
            f"[scaler ms, mean of the starts: {', '.join(f'{n} {v * MS:.0f}' for n, v in phases.items())}]"
        )
        yield ramp


def report(colds: list[ColdStart], ramps: list[Ramp], args: argparse.Namespace, tally: Tally) -> None:
    print()
    if colds:
        seconds = [c.seconds for c in colds]
        print(
            f"(a) cold start, request at the router -> answer ({len(colds)} cycles, image on the host): "
            f"p50 {percentile(seconds, 50) * MS:.0f} ms, p95 {percentile(seconds, 95) * MS:.0f} ms"
        )
        print("    scaler phases, p50 over the cycles:")
        names = list(dict.fromkeys(name for c in colds for name in c.phases))
        for name in names:
            values = [c.phases[name] for c in colds if name in c.phases]
            print(
                f"      {name:<12} {percentile(values, 50) * MS:7.1f} ms  (in {len(values)} of {len(colds)})"
            )
        totals = [c.seconds - c.phases["total"] for c in colds if "total" in c.phases]
        if totals:
            print(
                f"      {'rest':<12} {percentile(totals, 50) * MS:7.1f} ms  (router hold, Activate, forward "
                "and HTTP: request time minus the scaler's total)"
            )
        reported = {name.replace("_", "-") for name in names}
        missing = [p for p in EXPECTED_PHASES if p not in reported]
        if missing:
            print(f"    phases this scaler does not report: {', '.join(missing)}")
    else:
        print("(a) cold start: no cold start answered")
    if ramps:
        firsts = [r.first_response_s for r in ramps]
        reach = [r.to_replicas_s for r in ramps]
        latencies = [s for r in ramps for s in r.ramp_latencies]
        warm = [s for r in ramps for s in r.warm_latencies]
        print(
            f"(b) time to first response at zero ({args.clients} clients at once, {len(ramps)} steps): "
            f"p50 {percentile(firsts, 50) * MS:.0f} ms, max {max(firsts) * MS:.0f} ms"
        )
        print(
            f"(c) time to {args.replicas} ready replicas under the step load: "
            f"p50 {percentile(reach, 50) * MS:.0f} ms, max {max(reach) * MS:.0f} ms"
        )
        if not latencies:
            print("(d) latency during the ramps: no request answered during the ramps")
        else:
            print(
                f"(d) latency during the ramps (step to {args.replicas} ready, {len(latencies)} requests): "
                f"p50 {percentile(latencies, 50) * MS:.0f} ms, p99 {percentile(latencies, 99) * MS:.0f} ms"
            )
        if warm:
            print(
                f"    of which the {len(warm)} sent after the first answer (no cold start to wait for): "
                f"p50 {percentile(warm, 50) * MS:.0f} ms, p99 {percentile(warm, 99) * MS:.0f} ms"
            )
    print(f"(e) failed requests: {len(tally.failed)} of {tally.sent}")
    for failure in tally.failed[:5]:
        print(f"    {failure}")


if __name__ == "__main__":
    main()
