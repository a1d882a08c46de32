"""Autoscaling on real parts: the router, the scaler and model containers on the Docker engine.

The fraud-detector example runs under a deployment config that plans a replica per half request in
flight (at most three replicas) with short windows: any steady load of a few clients, however little
of it the two shared cores let through, is worth the three replicas, and a quiet spell of seconds
takes the version back to zero. Every request of every
load is counted: a test fails on a single request that did not get its right answer.
"""

from __future__ import annotations

import signal
import textwrap
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import grpc
import httpx
import numpy as np
import pytest

from protos.inference import grpc_service_pb2_grpc
from tests.e2e import replicas
from tests.e2e.background_load import Load, describe_failures
from tests.e2e.platform import Platform, example_model
from tests.e2e.stories import copy_example, wait_until
from wire import oip_grpc, plain_form
from wire.signature import Signature

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]

MAX_REPLICAS = 3
CLIENTS = 8
STABLE_WINDOW_S = 4.0
GRACE_S = 6.0
CONFIG = {
    "target_concurrency": 0.5,
    "max_replicas": MAX_REPLICAS,
    "stable_window_s": STABLE_WINDOW_S,
    "scale_to_zero_grace_s": GRACE_S,
    "hold_timeout_s": 30,
}
FRAUD_INPUT = {"amount": [12.5, 900.0, 3100.0], "country": ["DE", "US", "NG"]}


@dataclass
class Fraud:
    """The deployed application and what its answers must be."""

    app: str
    key: str
    instance: str
    expected: np.ndarray

    def check(self, response: httpx.Response) -> str | None:
        score = response.json().get("score")
        if score is None or not np.allclose(score, self.expected):
            return f"score {score}, expected {self.expected.tolist()}"
        return None


@dataclass
class ContainerWatch:
    """The running containers of one version, sampled every `interval_s` in a thread."""

    version_key: str
    interval_s: float = 0.1
    samples: list[tuple[float, frozenset[str]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    error: Exception | None = None

    def __enter__(self) -> ContainerWatch:
        self._thread = threading.Thread(target=self._follow, name="container-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            assert not self._thread.is_alive(), "the container watch did not stop"
        assert self.error is None, f"the container watch failed: {self.error!r}"

    def _follow(self) -> None:
        client = docker.from_env()
        try:
            while True:
                # The low-level list: the high-level one inspects each container, racing their removal.
                try:
                    found = client.api.containers(filters={"label": f"hydro.version={self.version_key}"})
                except docker.errors.APIError as exc:  # a passing engine hiccup: sample again
                    self.error = exc
                    self._stop.wait(self.interval_s)
                    continue
                self.error = None
                self.samples.append((time.monotonic(), frozenset(c["Id"] for c in found)))
                if self._stop.is_set():
                    return  # the last sample is taken after the stop was asked for
                self._stop.wait(self.interval_s)
        finally:
            client.close()

    def counts(self, since: float = 0.0) -> list[int]:
        return [len(ids) for at, ids in self.samples if at >= since]

    def seen(self, since: float = 0.0) -> set[str]:
        return {cid for at, ids in self.samples if at >= since for cid in ids}


def containers(label: str, include_stopped: bool = True) -> set[str]:
    """Ids of the containers carrying `label` (stopped ones too unless told otherwise)."""
    client = docker.from_env()
    try:
        return {c["Id"] for c in client.api.containers(all=include_stopped, filters={"label": label})}
    finally:
        client.close()


def owned_by(instance: str, version_key: str) -> tuple[list[str], list[str]]:
    """Names of the containers a scaler instance owns: (replicas of `version_key`, idle netns holders)."""
    client = docker.from_env()
    try:
        found = client.api.containers(all=True, filters={"label": f"hydro.scaler={instance}"})
    finally:
        client.close()
    holders = [c for c in found if c["Labels"].get("hydro.role") == "netns-holder"]
    # Other stories on the same platform may still run replicas (and their holders) of their own versions.
    in_use = {c["Labels"].get("hydro.holder") for c in found if c not in holders}
    idle = [c for c in holders if c["Id"] not in in_use]
    replicas = [c for c in found if c not in holders and c["Labels"].get("hydro.version") == version_key]
    return [c["Names"][0] for c in replicas], [f"{c['Names'][0]} ({c['State']}, {c['Status']})" for c in idle]


def sigkill(container_id: str) -> None:
    client = docker.from_env()
    try:
        client.api.kill(container_id, signal="SIGKILL")
    finally:
        client.close()


@pytest.fixture(scope="module")
def fraud(docker_platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Fraud:
    """`hydro deploy` of the numpy example under the scaling config; nothing runs yet."""
    docker_platform.put_deployment_config("e2e-scaling", **CONFIG)
    folder, model = copy_example("fraud-detector", tmp_path_factory.mktemp("scaling"))
    result = docker_platform.hydro(
        "deploy", str(folder), "--app", model, "--deployment-config", "e2e-scaling"
    )
    assert result.returncode == 0, result.stderr + result.stdout + docker_platform.logs()
    body = httpx.get(
        f"{docker_platform.api}/models/{model}/versions/1", headers=docker_platform.headers()
    ).json()
    arrays = plain_form.decode_plain_request(FRAUD_INPUT, Signature.from_dict(body["signature"]))
    expected = example_model("fraud-detector").predict(arrays)["score"]
    return Fraud(model, f"{model}:1", docker_platform.env["HYDRO_SCALER_INSTANCE"], expected)


def load(platform: Platform, fraud: Fraud) -> Load:
    return Load(f"{platform.router}/apps/{fraud.app}", FRAUD_INPUT, CLIENTS, check=fraud.check)


def ready_replicas(platform: Platform, fraud: Fraud) -> int:
    """Ready replicas as the control plane's API shows them (asked from the scaler)."""
    variant = platform.application(fraud.app)["stages"][0]["variants"][0]
    replicas = variant.get("replicas") or {}
    return int(replicas.get("ready", 0))


def test_a_step_load_scales_out_then_back_to_one_and_to_zero_without_a_failed_request(
    docker_platform: Platform, fraud: Fraud
) -> None:
    wait_until(lambda: not containers(f"hydro.version={fraud.key}"), 60, "the version is at zero")

    with ContainerWatch(fraud.key) as watch:
        with load(docker_platform, fraud) as steady:
            wait_until(lambda: max(watch.counts(), default=0) > 1, 30, "a second replica runs")
            time.sleep(3.0)
        stopped_at = time.monotonic()
        outcomes = steady.outcomes
        wait_until(
            lambda: not containers(f"hydro.version={fraud.key}"),
            STABLE_WINDOW_S + GRACE_S + 30,
            "every container of the version is removed",
        )

    assert outcomes, "the load sent no request"
    assert steady.failures() == [], describe_failures(outcomes)
    peak = max(watch.counts())
    assert 1 < peak <= MAX_REPLICAS, watch.counts()
    after = watch.counts(since=stopped_at)
    # Down to one replica while the grace period runs, then to none.
    assert 0 in after, after
    assert 1 in after[: after.index(0)], after


def test_a_replica_killed_with_sigkill_mid_load_loses_no_request(
    docker_platform: Platform, fraud: Fraud
) -> None:
    with load(docker_platform, fraud) as steady:
        wait_until(
            lambda: ready_replicas(docker_platform, fraud) == MAX_REPLICAS, 60, "three replicas are ready"
        )
        before = containers(f"hydro.version={fraud.key}", include_stopped=False)
        victim = sorted(before)[0]
        sigkill(victim)
        killed_at = time.monotonic()

        def replaced() -> bool:
            running = containers(f"hydro.version={fraud.key}", include_stopped=False)
            return victim not in running and len(running - before) >= 1

        wait_until(replaced, 30, "a new container replaces the killed one")
        wait_until(
            lambda: ready_replicas(docker_platform, fraud) == MAX_REPLICAS,
            30,
            "three replicas are ready again",
        )
        time.sleep(1.0)

    outcomes = steady.outcomes
    assert any(o.sent_at < killed_at < o.answered_at for o in outcomes), (
        "no request was under way at the kill"
    )
    assert steady.failures() == [], describe_failures(outcomes)
    # The killed container is gone from the engine, not left behind as an exited one.
    assert victim not in containers(f"hydro.version={fraud.key}")


def test_a_scaler_restarted_mid_load_adopts_its_replicas_without_duplicates_or_orphans(
    docker_platform: Platform, fraud: Fraud
) -> None:
    with ContainerWatch(fraud.key) as watch:
        with load(docker_platform, fraud) as steady:
            wait_until(
                lambda: ready_replicas(docker_platform, fraud) == MAX_REPLICAS, 60, "three replicas are ready"
            )
            existing = containers(f"hydro.version={fraud.key}", include_stopped=False)
            assert len(existing) == MAX_REPLICAS

            docker_platform.kill("scaler", signal.SIGKILL)
            time.sleep(1.0)  # the routers keep serving from their last endpoints meanwhile
            restarted_at = time.monotonic()
            docker_platform.restart("scaler")
            wait_until(
                lambda: ready_replicas(docker_platform, fraud) == MAX_REPLICAS,
                60,
                "the restarted scaler lists three ready replicas",
            )
            time.sleep(3.0)

        outcomes = steady.outcomes
        wait_until(
            lambda: not containers(f"hydro.version={fraud.key}"),
            STABLE_WINDOW_S + GRACE_S + 30,
            "every container of the version is removed",
        )

    assert steady.failures() == [], describe_failures(outcomes)
    assert max(watch.counts()) <= MAX_REPLICAS, watch.counts()
    # The load kept three replicas wanted: the new scaler adopted the three it found and started none.
    assert watch.seen(since=restarted_at) <= existing, watch.seen(since=restarted_at) - existing
    # Nothing of the scaler's is left but its pool of idle network-namespace holders (the restarted
    # scaler adopted the old pool rather than adding a second one); the holder of the last replica
    # stopped may still be on its way out.
    assert owned_by(fraud.instance, fraud.key)[0] == []
    pool = int(docker_platform.env.get("HYDRO_SCALER_NETNS_HOLDERS", "2"))
    wait_until(
        lambda: len(owned_by(fraud.instance, fraud.key)[1]) <= pool,
        15,
        f"at most {pool} idle holders are left",
    )


# y = 2x after sleeping x seconds: the answer proves the request ran to its end.
SLEEPY_MODEL = """
    import time

    def double(inputs):
        time.sleep(float(inputs["x"][0]))
        return {"y": inputs["x"] * 2}
"""
SLEEPY_MANIFEST = """
    name: {name}
    runtime: python3.11
    entrypoint: model:double
    signature:
      inputs:
        - {{name: x, datatype: FP64, shape: [-1]}}
      outputs:
        - {{name: y, datatype: FP64, shape: [-1]}}
"""
# Longer than the stop's grace (HYDRO_SCALER_STOP_TIMEOUT_S, 3 s, then SIGKILL) by far: only the drain,
# which waits for the runtime's own in-flight count to reach zero, lets it finish.
SLOW_S = 10.0


def test_a_slow_request_on_a_replica_scaled_to_zero_completes_before_its_container_stops(
    docker_platform: Platform, tmp_path: Path
) -> None:
    name = f"sleepy-{uuid.uuid4().hex[:6]}"
    folder = tmp_path / name
    folder.mkdir()
    (folder / "model.py").write_text(textwrap.dedent(SLEEPY_MODEL))
    (folder / "hydro.yaml").write_text(textwrap.dedent(SLEEPY_MANIFEST.format(name=name)))
    docker_platform.put_deployment_config(
        "e2e-drain", scale_to_zero_grace_s=1.0, stable_window_s=2.0, hold_timeout_s=60
    )
    deployed = docker_platform.hydro("deploy", str(folder), "--app", name, "--deployment-config", "e2e-drain")
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout + docker_platform.logs()
    key = f"{name}:1"

    # A quick request through the router wakes the version; the slow one goes straight to the replica
    # (as a router would send it), so no router reports it and the idle version is scaled to zero under it.
    woken = httpx.post(f"{docker_platform.router}/apps/{name}", json={"x": [0.0]}, timeout=120)
    assert woken.status_code == 200, woken.text
    [container] = replicas.containers(docker_platform, key)
    assert container.address is not None
    answer: dict[str, object] = {}

    def slow_request() -> None:
        try:
            with grpc.insecure_channel(container.address or "") as channel:
                stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
                request = oip_grpc.encode_infer_request(name, {"x": np.array([SLOW_S])})
                response = stub.ModelInfer(request, timeout=SLOW_S + 30)
            answer["y"] = oip_grpc.decode_infer_response(response)["y"].tolist()
        except Exception as exc:
            answer["error"] = exc
        answer["at"] = time.monotonic()

    sender = threading.Thread(target=slow_request, name="slow-request", daemon=True)
    sent_at = time.monotonic()
    sender.start()
    wait_until(
        lambda: replicas.ready_addresses(docker_platform, key) == [],
        SLOW_S - 4,
        "the idle replica leaves the endpoints while the slow request runs",
    )
    left_at = time.monotonic()
    assert sender.is_alive(), f"the slow request ended before the scale-down: {answer}"
    # Out of rotation, but not stopped: it still serves the request (time left > the stop's grace).
    assert containers(f"hydro.version={key}", include_stopped=False) == {container.id}
    assert sent_at + SLOW_S - left_at > 3.0

    sender.join(SLOW_S + 35)
    assert not sender.is_alive(), "the slow request did not end"
    assert answer.get("y") == [2 * SLOW_S], answer
    # Then, and only then, the container is stopped and removed.
    wait_until(lambda: not containers(f"hydro.version={key}"), 30, "the drained container is removed")
