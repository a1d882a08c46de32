"""The router on real model containers, the whole platform running as processes (issue 3's stories).

A fraud pipeline: stage 1 is the fraud-detector example, stage 2 an A/B test of two versions of a
blocking policy (threshold 0.5 against 0.9, 50/50). Every Open Inference Protocol client a user
might hold (tritonclient.http with JSON and with binary tensors, tritonclient.grpc) and the plain JSON
form get the answer computed here from the models' own definitions, see the same metadata, and get
the matching 4xx / gRPC status naming the problem for bad input.

Then the data plane under stress: a burst of 500 requests at a cold version whose replicas take at
most 4 requests at once (checked against each container's own counters), a replica killed mid-load,
and the control plane killed mid-load and restarted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
from prometheus_client.parser import text_string_to_metric_families
from tritonclient.utils import InferenceServerException

from tests.e2e import replicas
from tests.e2e.load import Outcome, SteadyLoad
from tests.e2e.platform import REPO_ROOT, Platform, example_model
from tests.e2e.stories import (
    copy_example,
    delete_application,
    put_application,
    upload,
    wait_released,
    wait_routed,
    wait_until,
    write_model,
)

pytestmark = [pytest.mark.docker, pytest.mark.postgres, pytest.mark.slow]

TRANSACTIONS: dict[str, list[Any]] = {
    "amount": [12.5, 900.0, 3100.0, 75.0, 250.0],
    "country": ["DE", "US", "NG", "RU", "BR"],
}
THRESHOLDS = (0.5, 0.9)
"""Stage 2's versions 1 and 2: each blocks a transaction whose fraud score is above its threshold."""

POLICY = """
    \"\"\"Block a transaction whose fraud score is above this version's threshold.\"\"\"
    import numpy as np

    THRESHOLD = {threshold}

    def decide(inputs):
        score = inputs["score"]
        return {{"block": score > THRESHOLD, "threshold": np.full(score.shape, THRESHOLD)}}
"""
POLICY_SIGNATURE = {
    "inputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
    "outputs": [
        {"name": "block", "datatype": "BOOL", "shape": [-1]},
        {"name": "threshold", "datatype": "FP64", "shape": [-1]},
    ],
}

BUSY = """
    \"\"\"Triples x, taking 50 ms over it (long enough for requests to pile up on a replica).\"\"\"
    import time

    def triple(inputs):
        time.sleep(0.05)
        return {"y": inputs["x"] * 3}
"""
BUSY_SIGNATURE = {
    "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}],
    "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
}
BURST = 500
CONTAINER_CONCURRENCY = 4


@dataclass(frozen=True)
class Versions:
    """Every model version the stories route to, built once by the control plane (`model:N`)."""

    fraud: str
    policies: tuple[str, str]
    burst: str
    pair: str


@pytest.fixture(scope="module")
def versions(docker_platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Versions:
    """Upload all the models at once (the control plane builds them side by side), then wait for them."""
    platform = docker_platform
    platform.put_deployment_config(
        "e2e-burst4",
        container_concurrency=CONTAINER_CONCURRENCY,
        target_concurrency=CONTAINER_CONCURRENCY,
        max_replicas=4,
        hold_timeout_s=90,
        max_queue=BURST,
        scale_to_zero_grace_s=300,
        stable_window_s=60,
    )
    platform.put_deployment_config(
        "e2e-pair",
        min_replicas=2,
        max_replicas=2,
        container_concurrency=CONTAINER_CONCURRENCY,
        target_concurrency=CONTAINER_CONCURRENCY,
        hold_timeout_s=30,
    )
    dest = tmp_path_factory.mktemp("router-models")
    fraud_folder, _ = copy_example("fraud-detector", dest)
    fraud = upload(platform, fraud_folder)
    policy_name = f"fraud-policy-{fraud.split(':')[0].rsplit('-', 1)[1]}"
    policies = tuple(
        upload(
            platform,
            write_model(dest, policy_name, POLICY.format(threshold=t), "policy:decide", POLICY_SIGNATURE),
        )
        for t in THRESHOLDS
    )
    busy_folder = write_model(dest, f"busy-{policy_name[-6:]}", BUSY, "busy:triple", BUSY_SIGNATURE)
    burst, pair = upload(platform, busy_folder), upload(platform, busy_folder)
    assert [p.split(":")[1] for p in policies] == ["1", "2"] and [burst[-2:], pair[-2:]] == [":1", ":2"]
    wait_released(platform, fraud, *policies, burst, pair)
    return Versions(fraud, (policies[0], policies[1]), burst, pair)


def fraud_pipeline(platform: Platform, versions: Versions, app: str, weights: tuple[int, int]) -> str:
    stage_2 = [
        (key, weight, "default") for key, weight in zip(versions.policies, weights, strict=True) if weight
    ]
    put_application(platform, app, [[(versions.fraud, 100, "default")], stage_2])
    wait_routed(platform, app)
    return app


@pytest.fixture(scope="module")
def ab_app(docker_platform: Platform, versions: Versions) -> str:
    """The two-stage application with the A/B stage, warmed until both policies have answered."""
    app = fraud_pipeline(docker_platform, versions, f"fraud-ab-{versions.fraud[-8:-2]}", (50, 50))
    seen: set[float] = set()

    def both_answered() -> bool:
        answer = docker_platform.invoke(app, TRANSACTIONS, timeout=90)
        assert answer.status_code == 200, answer.text + docker_platform.logs()
        seen.add(answer.json()["threshold"][0])
        return seen == set(THRESHOLDS)

    wait_until(both_answered, 120, "both versions of the A/B stage answered", interval=0)
    return app


def expected_answer(threshold: float) -> dict[str, np.ndarray]:
    """What the pipeline must answer when stage 2's version with `threshold` served: from the models' code."""
    inputs = {
        "amount": np.array(TRANSACTIONS["amount"]),
        "country": np.array(TRANSACTIONS["country"], dtype=object),
    }
    score = example_model("fraud-detector").predict(inputs)["score"]
    return {"block": score > threshold, "threshold": np.full(score.shape, threshold)}


EXPECTED = {t: expected_answer(t) for t in THRESHOLDS}


def assert_right_answer(answer: dict[str, Any], where: str) -> float:
    """`answer` is exactly what one of the A/B versions computes; return that version's threshold."""
    threshold = float(np.asarray(answer["threshold"])[0])
    assert threshold in EXPECTED, f"{where}: no policy version has threshold {threshold}"
    block = np.asarray(answer["block"])
    assert block.dtype == np.bool_, f"{where}: block came back as {block.dtype}"
    assert block.tolist() == EXPECTED[threshold]["block"].tolist(), where
    assert np.asarray(answer["threshold"]).tolist() == EXPECTED[threshold]["threshold"].tolist(), where
    return threshold


# -- the four clients ------------------------------------------------------------------------------

CALLS = 16
"""Per client: both 50/50 variants answer, unless all calls land on one (probability 2 * 0.5**16, 3e-5)."""


def typed_inputs() -> dict[str, np.ndarray]:
    return {
        "amount": np.array(TRANSACTIONS["amount"], dtype=np.float64),
        "country": np.array([c.encode() for c in TRANSACTIONS["country"]], dtype=np.object_),
    }


def datatype(array: np.ndarray) -> str:
    return {"float64": "FP64", "float32": "FP32", "object": "BYTES"}[str(array.dtype)]


@dataclass(frozen=True)
class BadCall:
    """A wrong request: the inputs as sent, shapes declared instead of the data's, app and version."""

    inputs: dict[str, np.ndarray]
    declared: dict[str, list[int]]
    app: str | None = None
    version: str = ""


def bad_calls(app: str) -> dict[str, BadCall]:
    good = typed_inputs()
    return {
        "wrong name": BadCall({"amount": good["amount"], "kountry": good["country"]}, {}),
        "wrong datatype": BadCall({**good, "amount": good["amount"].astype(np.float32)}, {}),
        "wrong shape": BadCall({**good, "amount": good["amount"].reshape(5, 1)}, {}),
        "data length not matching the shape": BadCall(good, {"amount": [6]}),
        "unknown application": BadCall(good, {}, app="no-such-app"),
        "unknown version": BadCall(good, {}, version="3"),
    }


# (status of HTTP, status of gRPC, words the message must hold) per bad call
BAD_CALL_ERRORS: dict[str, tuple[int, str, tuple[str, ...]]] = {
    "wrong name": (400, "INVALID_ARGUMENT", ("'kountry'",)),
    "wrong datatype": (400, "INVALID_ARGUMENT", ("'amount'", "FP64", "FP32")),
    "wrong shape": (400, "INVALID_ARGUMENT", ("'amount'", "[-1]", "[5, 1]")),
    "data length not matching the shape": (400, "INVALID_ARGUMENT", ("'amount'", "[6]")),
    "unknown application": (404, "NOT_FOUND", ("'no-such-app'",)),
    "unknown version": (404, "NOT_FOUND", ("no version '3'",)),
}

# The plain JSON form takes datatypes and shapes from the signature, so its bad calls are its own.
PLAIN_BAD_BODIES: dict[str, tuple[str | None, Any, tuple[str, ...]]] = {
    "wrong name": (None, {"amount": [1.0], "kountry": ["DE"]}, ("'kountry'",)),
    "wrong datatype": (None, {"amount": ["a lot"], "country": ["DE"]}, ("'amount'",)),
    "wrong shape": (None, {"amount": [[1.0]], "country": ["DE"]}, ("'amount'", "[-1]")),
    "ragged data": (None, {"amount": [[1.0], [2.0, 3.0]], "country": ["DE"]}, ("'amount'", "ragged")),
    "malformed JSON": (None, '{"amount": [1.0', ("JSON",)),
    "unknown application": ("no-such-app", TRANSACTIONS, ("'no-such-app'",)),
}


class Client:
    """One kind of caller: infer, ask about health and metadata, and make bad calls."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.host = platform.router.removeprefix("http://")

    def infer(self, app: str, calls: int) -> list[dict[str, Any]]:
        raise NotImplementedError

    def health(self, app: str) -> dict[str, Any]:
        """live, ready, ready(app), ready(no-such-app), metadata(app), server metadata."""
        raise NotImplementedError

    def bad(self, app: str) -> dict[str, tuple[str, str]]:
        """Each bad call's (status, message)."""
        raise NotImplementedError


class PlainJson(Client):
    """httpx, one client for all its calls (as a user's program would hold one)."""

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.platform.router, timeout=60)

    def infer(self, app: str, calls: int) -> list[dict[str, Any]]:
        answers = []
        with self._client() as http:
            for _ in range(calls):
                response = http.post(f"/apps/{app}", json=TRANSACTIONS)
                assert response.status_code == 200, response.text
                answers.append(response.json())
        return answers

    def health(self, app: str) -> dict[str, Any]:
        with self._client() as http:
            metadata = http.get(f"/v2/models/{app}")
            assert metadata.status_code == 200, metadata.text
            return {
                "live": http.get("/v2/health/live").status_code == 200,
                "ready": http.get("/v2/health/ready").status_code == 200,
                "app ready": http.get(f"/v2/models/{app}/ready").status_code == 200,
                "unknown ready": http.get("/v2/models/no-such-app/ready").status_code == 200,
                "metadata": metadata.json(),
                "server": http.get("/v2").json(),
            }

    def bad(self, app: str) -> dict[str, tuple[str, str]]:
        failures = {}
        with self._client() as http:
            for case, (other_app, body, _) in PLAIN_BAD_BODIES.items():
                url = f"/apps/{other_app or app}"
                if isinstance(body, str):
                    response = http.post(url, content=body, headers={"Content-Type": "application/json"})
                else:
                    response = http.post(url, json=body)
                failures[case] = (str(response.status_code), response.json()["error"])
        return failures


class TritonHttp(Client):
    def __init__(self, platform: Platform, binary: bool) -> None:
        super().__init__(platform)
        self.binary = binary

    def _inputs(self, arrays: dict[str, np.ndarray], declared: dict[str, list[int]]) -> list[Any]:
        tensors = []
        for name, array in arrays.items():
            tensor = httpclient.InferInput(name, list(array.shape), datatype(array))
            tensor.set_data_from_numpy(array, binary_data=self.binary)
            if name in declared:
                tensor.set_shape(declared[name])
            tensors.append(tensor)
        return tensors

    def _client(self) -> httpclient.InferenceServerClient:
        return httpclient.InferenceServerClient(self.host, network_timeout=60)

    def infer(self, app: str, calls: int) -> list[dict[str, Any]]:
        wanted = [httpclient.InferRequestedOutput(n, binary_data=self.binary) for n in ("block", "threshold")]
        client = self._client()
        try:
            answers = []
            for i in range(calls):
                result = client.infer(
                    app, self._inputs(typed_inputs(), {}), outputs=wanted, request_id=str(i)
                )
                response = result.get_response()
                assert response["model_name"] == app and response["id"] == str(i), response
                for output in response["outputs"]:
                    assert ("data" not in output) == self.binary, f"binary_data={self.binary}: {output}"
                answers.append({name: result.as_numpy(name) for name in ("block", "threshold")})
            return answers
        finally:
            client.close()

    def health(self, app: str) -> dict[str, Any]:
        client = self._client()
        try:
            return {
                "live": client.is_server_live(),
                "ready": client.is_server_ready(),
                "app ready": client.is_model_ready(app),
                "unknown ready": client.is_model_ready("no-such-app"),
                "metadata": client.get_model_metadata(app),
                "server": client.get_server_metadata(),
            }
        finally:
            client.close()

    def bad(self, app: str) -> dict[str, tuple[str, str]]:
        client = self._client()
        failures = {}
        try:
            for case, call in bad_calls(app).items():
                with pytest.raises(InferenceServerException) as failure:
                    client.infer(
                        call.app or app, self._inputs(call.inputs, call.declared), model_version=call.version
                    )
                failures[case] = (str(failure.value.status()), str(failure.value.message()))
        finally:
            client.close()
        return failures


class TritonGrpc(Client):
    """tritonclient.grpc, in a caller process of its own (see `triton_grpc.py`)."""

    def _run(self, steps: list[dict[str, Any]]) -> list[Any]:
        process = subprocess.run(
            [sys.executable, "-m", "tests.e2e.triton_grpc", self.platform.router_grpc],
            input=json.dumps(steps),
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO_ROOT,
        )
        assert process.returncode == 0, f"the tritonclient.grpc caller failed:\n{process.stderr}"
        results: list[Any] = json.loads(process.stdout)
        return results

    @staticmethod
    def _step(
        app: str, call: BadCall | None = None, outputs: tuple[str, ...] = (), **kwargs: Any
    ) -> dict[str, Any]:
        inputs = call.inputs if call else typed_inputs()
        return {
            "call": "infer",
            "args": [call.app or app if call else app],
            "inputs": {
                name: [
                    datatype(a),
                    list(a.shape),
                    [v.decode() if isinstance(v, bytes) else v for v in a.ravel().tolist()],
                ]
                for name, a in inputs.items()
            },
            "shapes": call.declared if call else {},
            "outputs": list(outputs),
            "kwargs": {"model_version": call.version} if call else kwargs,
        }

    def infer(self, app: str, calls: int) -> list[dict[str, Any]]:
        results = self._run(
            [self._step(app, outputs=("block", "threshold"), request_id=str(i)) for i in range(calls)]
        )
        answers = []
        for result in results:
            assert "error" not in result, result
            assert result["model_name"] == app
            assert result["datatypes"] == {"block": "BOOL", "threshold": "FP64"}, result
            answers.append({name: np.array(values) for name, values in result["outputs"].items()})
        return answers

    def health(self, app: str) -> dict[str, Any]:
        live, ready, app_ready, unknown_ready, metadata, server = self._run(
            [
                {"call": "is_server_live"},
                {"call": "is_server_ready"},
                {"call": "is_model_ready", "args": [app]},
                {"call": "is_model_ready", "args": ["no-such-app"]},
                {"call": "get_model_metadata", "args": [app]},
                {"call": "get_server_metadata"},
            ]
        )
        return {
            "live": live,
            "ready": ready,
            "app ready": app_ready,
            "unknown ready": unknown_ready,
            "metadata": metadata,
            "server": server,
        }

    def bad(self, app: str) -> dict[str, tuple[str, str]]:
        cases = bad_calls(app)
        results = self._run([self._step(app, call) for call in cases.values()])
        failures = {}
        for case, result in zip(cases, results, strict=True):
            assert "error" in result, f"{case}: answered {result}"
            failures[case] = (
                result["error"]["status"].removeprefix("StatusCode."),
                result["error"]["message"],
            )
        return failures


CLIENTS: dict[str, Callable[[Platform], Client]] = {
    "tritonclient.http JSON": lambda p: TritonHttp(p, binary=False),
    "tritonclient.http binary": lambda p: TritonHttp(p, binary=True),
    "tritonclient.grpc": TritonGrpc,
    "plain HTTP JSON": PlainJson,
}
KINDS = list(CLIENTS)


@pytest.mark.parametrize("kind", KINDS)
def test_each_client_gets_the_answer_of_the_version_that_served_it(
    docker_platform: Platform, ab_app: str, kind: str
) -> None:
    answers = CLIENTS[kind](docker_platform).infer(ab_app, CALLS)

    served = Counter(assert_right_answer(answer, f"{kind} call {i}") for i, answer in enumerate(answers))
    assert set(served) == set(THRESHOLDS), f"{kind}: only {dict(served)} answered a 50/50 stage"


@pytest.mark.parametrize("kind", KINDS)
def test_each_client_sees_health_readiness_and_the_pipelines_signature(
    docker_platform: Platform, ab_app: str, kind: str
) -> None:
    story = CLIENTS[kind](docker_platform).health(ab_app)

    assert story["live"] is True and story["ready"] is True
    assert story["app ready"] is True
    if kind == "tritonclient.grpc":  # ModelReady of an unknown model is NOT_FOUND over gRPC
        not_found = {"status": "StatusCode.NOT_FOUND", "message": "unknown application 'no-such-app'"}
        assert story["unknown ready"] == {"error": not_found}
    else:  # and 404 over HTTP, which tritonclient.http reads as "not ready"
        assert story["unknown ready"] is False
    metadata = story["metadata"]
    assert metadata["name"] == ab_app
    tensors = {
        side: [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in metadata[side]]
        for side in ("inputs", "outputs")
    }
    assert tensors == {
        "inputs": [("amount", "FP64", [-1]), ("country", "BYTES", [-1])],
        "outputs": [("block", "BOOL", [-1]), ("threshold", "FP64", [-1])],
    }
    assert "binary_tensor_data" in story["server"]["extensions"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_client_gets_the_matching_status_naming_the_problem_for_bad_input(
    docker_platform: Platform, ab_app: str, kind: str
) -> None:
    failures = CLIENTS[kind](docker_platform).bad(ab_app)

    expected: dict[str, tuple[int | str, tuple[str, ...]]]
    if kind == "plain HTTP JSON":
        expected = {
            case: (404 if other_app else 400, words)
            for case, (other_app, _, words) in PLAIN_BAD_BODIES.items()
        }
    else:
        grpc_kind = kind == "tritonclient.grpc"
        expected = {
            case: (grpc_status if grpc_kind else http_status, words)
            for case, (http_status, grpc_status, words) in BAD_CALL_ERRORS.items()
        }
    assert failures.keys() == expected.keys()
    for case, (status, message) in failures.items():
        want, words = expected[case]
        assert status == str(want), f"{kind}, {case}: {status} {message}"
        assert all(w in message for w in words), f"{kind}, {case}: {message!r} does not name {words}"


# -- the data plane under stress -------------------------------------------------------------------


def test_a_burst_at_a_cold_version_never_gives_a_replica_more_than_its_limit(
    docker_platform: Platform, versions: Versions
) -> None:
    platform = docker_platform
    app = f"burst-{versions.burst.split(':')[0][-6:]}"
    put_application(platform, app, [[(versions.burst, 100, "e2e-burst4")]])
    wait_routed(platform, app)
    assert replicas.containers(platform, versions.burst, include_stopped=True) == [], "the version is cold"

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:
            return await asyncio.gather(
                *(client.post(f"{platform.router}/apps/{app}", json={"x": [float(i)]}) for i in range(BURST))
            )

    started = time.monotonic()
    try:
        responses = asyncio.run(burst())
        took = time.monotonic() - started
        counters = {
            c.id[:12]: replicas.stats(c.address)
            for c in replicas.containers(platform, versions.burst)
            if c.address is not None
        }
    finally:
        delete_application(platform, app)  # the scaler retires the replicas

    failed = [(r.status_code, r.text) for r in responses if r.status_code != 200]
    assert failed == [], (
        f"{len(failed)} of {BURST} failed, e.g. {failed[:3]}\n{platform.logs('router', 'scaler')}"
    )
    assert [r.json()["y"] for r in responses] == [[3.0 * i] for i in range(BURST)]
    print(
        f"burst of {BURST} took {took:.1f} s on {len(counters)} replicas: "
        + ", ".join(f"{k} served {s.served} (max {s.max_in_flight} at once)" for k, s in counters.items())
    )
    assert counters, "no replica of the burst version is running"
    for container, stats in counters.items():
        assert 0 < stats.max_in_flight <= CONTAINER_CONCURRENCY, (
            f"{container} held {stats.max_in_flight} at once"
        )
        assert stats.failed == 0 and stats.in_flight == 0, f"{container}: {stats}"
    assert sum(s.served for s in counters.values()) == BURST, "each request served exactly once"
    assert sum(1 for s in counters.values() if s.served) >= 2, "the burst was spread over several replicas"


def forwards(platform: Platform, app: str, version_key: str) -> dict[str, float]:
    """The router's count of calls forwarded to `version_key` for `app`, by the replica's answer code."""
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{platform.router}/metrics").text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "hydro_router_forwards_total"
                and labels.get("application") == app
                and labels.get("version") == version_key
            ):
                counts[labels["code"]] = sample.value
    return counts


def test_killing_a_replica_mid_load_loses_no_request(docker_platform: Platform, versions: Versions) -> None:
    platform = docker_platform
    key = versions.pair
    app = f"pair-{key.split(':')[0][-6:]}"
    put_application(platform, app, [[(key, 100, "e2e-pair")]])
    wait_routed(platform, app)
    wait_until(lambda: len(replicas.ready_addresses(platform, key)) == 2, 90, "both replicas are ready")
    victim, survivor = sorted(replicas.containers(platform, key), key=lambda c: c.id)

    async def scenario() -> tuple[list[Outcome], int, float]:
        body = lambda n: {"x": [float(n)]}  # noqa: E731
        async with SteadyLoad(f"{platform.router}/apps/{app}", body, callers=8) as load:
            await asyncio.sleep(2.0)
            assert victim.address is not None
            served_before = replicas.stats(victim.address).served
            await asyncio.to_thread(replicas.kill, victim.id)
            killed_at = time.monotonic()
            await asyncio.sleep(3.0)
            return await load.stop(), served_before, killed_at

    try:
        outcomes, served_before, killed_at = asyncio.run(scenario())
        retried = forwards(platform, app, key)
        survivor_failed = replicas.stats(survivor.address).failed if survivor.address else -1
    finally:
        delete_application(platform, app)

    assert served_before > 0, "the killed replica was taking its share of the load"
    statuses = Counter(o.status for o in outcomes)
    after_kill = [o for o in outcomes if o.started >= killed_at]
    print(f"{len(outcomes)} requests, {len(after_kill)} sent after the kill: {dict(statuses)}")
    assert statuses == {200: len(outcomes)}, [o for o in outcomes if o.status != 200][:5]
    assert all(o.body == {"y": [3.0 * o.sent["x"][0]]} for o in outcomes)
    assert len(after_kill) > 50, "the load went on after the kill"
    assert retried.get("UNAVAILABLE", 0) >= 1, f"no call was caught on the killed replica: {retried}"
    assert retried["OK"] == len(outcomes), "each call answered once, retried calls on the survivor"
    assert survivor_failed == 0, "the surviving replica failed nothing"


def test_the_control_plane_going_down_mid_load_changes_nothing_for_callers(
    docker_platform: Platform, versions: Versions, ab_app: str
) -> None:
    platform = docker_platform
    app = fraud_pipeline(platform, versions, f"outage-{versions.fraud[-8:-2]}", (50, 50))
    # the versions are warm already (the A/B application routes to the same ones)
    assert platform.invoke(app, TRANSACTIONS).status_code == 200

    async def outage() -> tuple[list[Outcome], float, float]:
        async with SteadyLoad(f"{platform.router}/apps/{app}", lambda n: TRANSACTIONS, callers=6) as load:
            await asyncio.sleep(1.0)
            code = await asyncio.to_thread(platform.kill, "control_plane", signal.SIGKILL)
            assert code == -signal.SIGKILL
            down_at = time.monotonic()
            with pytest.raises(httpx.ConnectError):
                await asyncio.to_thread(httpx.get, f"{platform.api}/health", timeout=2)
            await asyncio.sleep(4.0)
            return await load.stop(), down_at, time.monotonic()

    try:
        outcomes, down_at, up_at = asyncio.run(outage())
    finally:
        if platform.processes["control_plane"].poll() is not None:
            platform.restart("control_plane")

    statuses = Counter(o.status for o in outcomes)
    during = [o for o in outcomes if down_at <= o.started < up_at]
    print(f"{len(outcomes)} requests, {len(during)} while the control plane was down: {dict(statuses)}")
    assert statuses == {200: len(outcomes)}, [o for o in outcomes if o.status != 200][:5]
    served = Counter(assert_right_answer(o.body, "during the outage") for o in during)
    assert len(during) > 20 and set(served) == set(THRESHOLDS), f"routing went on 50/50: {dict(served)}"

    # back up: a change made after the restart reaches the router
    fraud_pipeline(platform, versions, app, (0, 100))

    with httpx.Client(base_url=platform.router, timeout=60) as http:

        def only_version_2_answers() -> bool:
            answers = [http.post(f"/apps/{app}", json=TRANSACTIONS) for _ in range(10)]
            return all(assert_right_answer(a.json(), "after the restart") == THRESHOLDS[1] for a in answers)

        took = wait_until(only_version_2_answers, 30, "the router follows the restarted control plane")
    print(f"the weight change after the restart took effect within {took:.1f} s")
