"""Issue 14's stories: an application read from a Kafka topic, answered to another, nothing lost, scaled
from zero on the backlog alone.

The embedded platform (SQLite, local object store, model replicas as local processes) with its routers
and control plane pointed at the real broker (Tansu, `tests/kafka_broker.py`). The test is a user's
producer and consumer (`tests/e2e/kafka_io.py`): it writes requests to the source topic and reads the
destination and error topics from their beginning, so it sees every record written, duplicates too.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.e2e.kafka_io import KafkaIO, Outgoing, Received
from tests.e2e.platform import REPO_ROOT, Platform, example_model, platform_env
from tests.e2e.stories import copy_example, upload, wait_released, wait_until, write_model
from tests.e2e.test_embedded_story import runtime_processes
from tests.kafka_broker import KafkaBroker
from tests.ports import free_port
from wire import plain_form
from wire.signature import Signature

pytestmark = [pytest.mark.slow]

CONFIG = "kafka-quick"
COUNTRIES = ("DE", "US", "NG", "FR", "BR", "XX")
STORY_ID = "x-story-id"
STORY_PARTITION = "x-story-partition"
REQUEST_ID = "x-request-id"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, kafka_broker: KafkaBroker) -> Iterator[Platform]:
    home = tmp_path_factory.mktemp("kafka-platform")
    env = platform_env(
        home, HYDRO_RUNTIME="process", HYDRO_KAFKA_BOOTSTRAP_SERVERS=kafka_broker.bootstrap_servers
    )
    running = Platform(home=home, env=env)
    try:
        running.start()
        running.put_deployment_config(CONFIG, scale_to_zero_grace_s=2.0, stable_window_s=4.0)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def kafka(kafka_broker: KafkaBroker) -> Iterator[KafkaIO]:
    client = KafkaIO(kafka_broker.bootstrap_servers)
    yield client
    client.close()


@dataclass(frozen=True)
class Fraud:
    key: str
    signature: Signature


@pytest.fixture(scope="module")
def fraud(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Fraud:
    folder, model = copy_example("fraud-detector", tmp_path_factory.mktemp("fraud"))
    key = upload(platform, folder)
    wait_released(platform, key)
    body = httpx.get(f"{platform.api}/models/{model}/versions/1", headers=platform.headers()).json()
    return Fraud(key, Signature.from_dict(body["signature"]))


@dataclass(frozen=True)
class Topics:
    source: str
    destination: str
    error: str


def kafka_application(
    platform: Platform,
    broker: KafkaBroker,
    app: str,
    stages: list[list[tuple[str, int]]],
    with_cli: bool = False,
) -> Topics:
    """Topics of 3 partitions for `app` (the error topic: 1), and the application bound to them: by
    `PUT` with its `kafka` object, or `with_cli` by `hydro apps kafka` after a `PUT` of its stages."""
    topics = Topics(
        broker.topic(f"{app}-in", 3), broker.topic(f"{app}-out", 3), broker.topic(f"{app}-err", 1)
    )
    binding = {
        "source_topic": topics.source,
        "destination_topic": topics.destination,
        "error_topic": topics.error,
    }
    variants = [
        [
            {
                "model": k.split(":")[0],
                "version": int(k.split(":")[1]),
                "weight": w,
                "deployment_config": CONFIG,
            }
            for k, w in stage
        ]
        for stage in stages
    ]
    body: dict[str, Any] = {"stages": [{"variants": stage} for stage in variants]}
    if not with_cli:
        body["kafka"] = binding
    response = httpx.put(
        f"{platform.api}/applications/{app}", json=body, headers=platform.headers(), timeout=30
    )
    assert response.status_code == 200, response.text
    if with_cli:
        flags = ("--source", topics.source, "--destination", topics.destination, "--error", topics.error)
        declared = platform.hydro("apps", "kafka", app, *flags)
        assert declared.returncode == 0, declared.stderr
        assert f"consumer group hydro.{app}" in declared.stdout, declared.stdout
    shown = platform.application(app)["kafka"]
    assert {k: shown[k] for k in binding} == binding and shown["consumer_group"] == f"hydro.{app}", shown
    return topics


# -- the messages -------------------------------------------------------------------------------------


def fraud_rows(rng: random.Random) -> dict[str, list[Any]]:
    rows = rng.randint(1, 3)
    return {
        "amount": [round(rng.uniform(1, 5000), 2) for _ in range(rows)],
        "country": [rng.choice(COUNTRIES) for _ in range(rows)],
    }


def oip(
    plain: dict[str, list[Any]], datatypes: dict[str, str], request_id: str | None = None
) -> dict[str, Any]:
    """The plain-form body as an Open Inference Protocol JSON request (1-d inputs)."""
    body: dict[str, Any] = {
        "inputs": [
            {"name": name, "datatype": datatypes[name], "shape": [len(data)], "data": data}
            for name, data in plain.items()
        ]
    }
    if request_id is not None:
        body["id"] = request_id
    return body


FRAUD_TYPES = {"amount": "FP64", "country": "BYTES"}


@dataclass(frozen=True)
class Request:
    """One message the story sends and what its answer must say."""

    story_id: str
    outgoing: Outgoing
    form: str
    """'oip', 'plain' or a bad message's kind."""
    expected: dict[str, np.ndarray]


def good_request(
    i: int,
    app: str,
    rows: dict[str, list[Any]],
    form: str,
    expected: dict[str, np.ndarray],
    datatypes: dict[str, str] = FRAUD_TYPES,
    partitions: int = 3,
) -> Request:
    """Message `i`: key `key-i`, partition i % partitions, the story's headers; even ones carry their own
    x-request-id, odd ones leave it to the router."""
    story_id = f"{app}-{i}"
    headers = [
        (STORY_ID, story_id.encode()),
        (STORY_PARTITION, str(i % partitions).encode()),
        ("x-tenant", b"acme"),
    ]
    if i % 2 == 0:
        headers.append((REQUEST_ID, f"req-{story_id}".encode()))
    body = oip(rows, datatypes) if form == "oip" else rows
    outgoing = Outgoing(json.dumps(body).encode(), f"key-{i}".encode(), tuple(headers), i % partitions)
    return Request(story_id, outgoing, form, expected)


def fraud_requests(app: str, count: int, fraud: Fraud, seed: int) -> list[Request]:
    """`count` good messages, OIP JSON and plain form in turn, with the scores the model must answer."""
    model = example_model("fraud-detector")
    rng = random.Random(seed)
    requests = []
    for i in range(count):
        rows = fraud_rows(rng)
        expected = model.predict(plain_form.decode_plain_request(rows, fraud.signature))
        requests.append(good_request(i, app, rows, "oip" if i % 2 == 0 else "plain", expected))
    return requests


def answer_values(record: Received, form: str) -> dict[str, list[Any]]:
    """The output values of an answer, checking its form is the request's."""
    assert record.value is not None
    body = json.loads(record.value)
    if form == "oip":
        assert isinstance(body.get("outputs"), list), body
        values = {}
        for tensor in body["outputs"]:
            assert tensor["shape"] == [len(tensor["data"])], tensor
            values[tensor["name"]] = tensor["data"]
        return values
    assert "outputs" not in body, body
    return {name: list(data) for name, data in body.items()}


def check_answer(record: Received, request: Request) -> None:
    """Right values, key and headers (the input's, and its x-request-id or a new one)."""
    assert record.key == request.outgoing.key, (record, request.story_id)
    values = answer_values(record, request.form)
    assert sorted(values) == sorted(request.expected), (values, request.story_id)
    for name, expected in request.expected.items():
        np.testing.assert_allclose(values[name], expected, rtol=1e-9, err_msg=request.story_id)
    for name, value in request.outgoing.headers:
        if name != REQUEST_ID:
            assert record.header(name) == value.decode(), (name, record.headers)
    given = dict(request.outgoing.headers).get(REQUEST_ID)
    answered_id = record.header(REQUEST_ID)
    assert answered_id, f"answer to {request.story_id} has no x-request-id: {record.headers}"
    if given is not None:
        assert answered_id == given.decode(), (answered_id, given)


def by_story_id(records: list[Received]) -> dict[str, list[Received]]:
    found: dict[str, list[Received]] = {}
    for record in records:
        story_id = record.header(STORY_ID)
        assert story_id is not None, f"a record without the input's headers: {record}"
        found.setdefault(story_id, []).append(record)
    return found


def assert_partition_order(records: list[Received], requests: list[Request]) -> None:
    """Within each destination partition, the answers to one source partition follow its input order."""
    position = {r.story_id: i for i, r in enumerate(requests)}
    for destination in {r.partition for r in records}:
        last: dict[str, int] = {}
        for record in sorted((r for r in records if r.partition == destination), key=lambda r: r.offset):
            story_id = record.header(STORY_ID) or ""
            source = record.header(STORY_PARTITION) or ""
            assert position[story_id] > last.get(source, -1), (
                f"answer to {story_id} (source partition {source}) came after a later input's answer"
            )
            last[source] = position[story_id]


def request_lines(platform: Platform, *services: str) -> list[dict[str, Any]]:
    """The routers' request lines (`router.requests`) of Kafka invokes."""
    lines = []
    for service in services or ("router",):
        for text in (platform.home / f"{service}.log").read_text(errors="replace").splitlines():
            if '"router.requests"' not in text:
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if line.get("transport") == "kafka":
                lines.append(line)
    return lines


def replicas(platform: Platform, app: str) -> dict[str, int]:
    body: dict[str, int] = platform.application(app)["stages"][0]["variants"][0]["replicas"]
    return body


# -- (a) 2,000 messages to an application at zero -------------------------------------------------------


def test_backlog_wakes_the_version_every_input_answered_once_in_order_then_back_to_zero(
    platform: Platform, kafka_broker: KafkaBroker, kafka: KafkaIO, fraud: Fraud
) -> None:
    app = "kafka-fraud"
    topics = kafka_application(platform, kafka_broker, app, [[(fraud.key, 100)]], with_cli=True)
    kafka.read(topics.destination, topics.error)
    # Joining a group takes Tansu ~5 s: the story times the wake-up of a version, not of a new group.
    wait_until(
        lambda: kafka_metric(platform.router, "hydro_router_kafka_partitions", app) == 3,
        30,
        "the router holds the 3 partitions",
    )
    wait_until(lambda: replicas(platform, app)["ready"] == 0, 30, "the version is at zero")
    assert runtime_processes(platform.home) == []
    assert kafka_metric(platform.router, "hydro_router_kafka_paused_partitions", app) == 0, (
        "at zero and idle, every partition keeps fetching: the first message wakes the version at once"
    )
    requests = fraud_requests(app, 2000, fraud, seed=14)

    sent = kafka.produce(topics.source, [r.outgoing for r in requests])
    first_look = platform.application(app)["kafka"]
    assert first_look["lag_error"] is None, first_look
    assert 0 < first_look["lag"]["total"] <= 2000, first_look
    assert len(first_look["lag"]["partitions"]) == 3

    desired_seen: list[int] = []
    deadline = time.monotonic() + 90
    while len(kafka.records(topics.destination)) < len(requests) and time.monotonic() < deadline:
        desired_seen.append(replicas(platform, app)["desired"])
        time.sleep(0.3)
    answers = kafka.wait_for(topics.destination, len(requests), 5, lambda: platform.logs("router", "scaler"))
    print(
        f"\n(a) first answer {min(a.at for a in answers) - sent[0].at:.2f} s after the first message at 0, "
        f"last {max(a.at for a in answers) - sent[0].at:.2f} s; desired replicas seen: {desired_seen}"
    )

    assert kafka.records(topics.error) == []
    answered = by_story_id(answers)
    twice = {k: len(v) for k, v in answered.items() if len(v) != 1}
    assert not twice, f"inputs answered more than once: {twice}"
    assert set(answered) == {r.story_id for r in requests}
    for request in requests:
        check_answer(answered[request.story_id][0], request)
    generated = [answered[r.story_id][0].header(REQUEST_ID) for r in requests[1::2]]
    assert len(set(generated)) == len(generated), "generated request ids repeat"
    assert_partition_order(answers, requests)

    logged = {line["request_id"] for line in request_lines(platform) if line["application"] == app}
    ids = {record.header(REQUEST_ID) for record in answers}
    assert ids <= logged, f"{len(ids - logged)} answers' request ids missing from the router's request lines"

    wait_until(lambda: platform.application(app)["kafka"]["lag"]["total"] == 0, 30, "the lag is 0")
    listed = platform.hydro("apps")
    assert listed.returncode == 0, listed.stderr
    header, *rows = (line.split() for line in listed.stdout.splitlines() if line.strip())
    (row,) = (row for row in rows if row[:1] == [app])
    assert row[header.index("LAG")] == "0", listed.stdout
    metrics = {
        name: kafka_metric(platform.router, f"hydro_router_kafka_{name}_total", app)
        for name in ("messages_received", "messages_answered", "duplicates")
    }
    assert metrics == {"messages_received": 2000, "messages_answered": 2000, "duplicates": 0}, metrics
    wait_until(
        lambda: (
            replicas(platform, app) == {"ready": 0, "desired": 0} and runtime_processes(platform.home) == []
        ),
        40,
        "the version scaled back to zero",
    )
    assert max(desired_seen) <= 3, f"more replicas than the 3 partitions asked for: {desired_seen}"


# -- (b) bad messages go to the error topic ---------------------------------------------------------------

BAD_KINDS: list[tuple[str, bytes | None, str, str]] = [
    # (kind, value, a word the error must name, x-hydro-error-code)
    ("broken JSON", b'{"amount": [1.0', "JSON", "invalid_input"),
    ("no value (tombstone)", None, "no value", "invalid_input"),
    ("a JSON array", b"[1, 2, 3]", "object", "invalid_input"),
    (
        "an unknown input",
        b'{"amount": [1.0], "country": ["DE"], "colour": ["red"]}',
        "colour",
        "invalid_input",
    ),
    ("a missing input", b'{"amount": [1.0]}', "country", "invalid_input"),
    ("a string for FP64", b'{"amount": ["lots"], "country": ["DE"]}', "amount", "invalid_input"),
    ("one dimension too many", b'{"amount": [[1.0]], "country": ["DE"]}', "amount", "invalid_input"),
    (
        "OIP data shorter than its shape",
        json.dumps(
            {
                "inputs": [
                    {"name": "amount", "datatype": "FP64", "shape": [3], "data": [1.0, 2.0]},
                    {"name": "country", "datatype": "BYTES", "shape": [1], "data": ["DE"]},
                ]
            }
        ).encode(),
        "shape",
        "invalid_input",
    ),
    (
        "OIP with the wrong datatype",
        json.dumps(
            oip({"amount": [1.0], "country": ["DE"]}, {"amount": "BOOL", "country": "BYTES"})
        ).encode(),
        "amount",
        "invalid_input",
    ),
    (
        "rows the model cannot pair",
        b'{"amount": [1.0, 2.0], "country": ["DE", "US", "FR"]}',
        "model",
        "model_failed",
    ),
]


def test_bad_messages_land_on_the_error_topic_named_and_located_the_good_ones_around_them_answered(
    platform: Platform, kafka_broker: KafkaBroker, kafka: KafkaIO, fraud: Fraud
) -> None:
    app = "kafka-errors"
    topics = kafka_application(platform, kafka_broker, app, [[(fraud.key, 100)]])
    kafka.read(topics.destination, topics.error)
    good = iter(fraud_requests(app, 150, fraud, seed=41))
    requests: list[Request] = []
    for i in range(200):
        if i % 4 == 3:
            kind, value, _, _ = BAD_KINDS[(i // 4) % len(BAD_KINDS)]
            story_id = f"{app}-bad-{i}"
            headers = ((STORY_ID, story_id.encode()), (STORY_PARTITION, str(i % 3).encode()))
            requests.append(Request(story_id, Outgoing(value, f"bad-{i}".encode(), headers, i % 3), kind, {}))
        else:
            request = next(good)
            requests.append(
                Request(
                    request.story_id,
                    Outgoing(request.outgoing.value, request.outgoing.key, request.outgoing.headers, i % 3),
                    request.form,
                    request.expected,
                )
            )
    sent = kafka.produce(topics.source, [r.outgoing for r in requests])

    logs = lambda: platform.logs("router")  # noqa: E731
    errors = by_story_id(kafka.wait_for(topics.error, 50, 90, logs))
    answers = by_story_id(kafka.wait_for(topics.destination, 150, 90, logs))
    time.sleep(1.0)  # anything more (a duplicate, a bad message answered) would show by now
    assert len(kafka.records(topics.error)) == 50 and len(kafka.records(topics.destination)) == 150
    to_error = sum(
        kafka_metric(platform.router, "hydro_router_kafka_messages_to_error_topic_total", app, code)
        for code in ("invalid_input", "model_failed")
    )
    assert to_error == 50, to_error

    expectation = {kind: (word, code) for kind, _, word, code in BAD_KINDS}
    shown: set[str] = set()
    for request, where in zip(requests, sent, strict=True):
        if request.form in ("oip", "plain"):
            assert request.story_id in answers and request.story_id not in errors, request.story_id
            check_answer(answers[request.story_id][0], request)
            continue
        assert request.story_id not in answers, f"{request.form}: answered on the destination topic"
        (record,) = errors[request.story_id]
        word, code = expectation[request.form]
        problem = record.header("x-hydro-error") or ""
        if request.form not in shown:
            shown.add(request.form)
            print(f"(b) {request.form:<34} {record.header('x-hydro-error-code')}: {problem[:110]}")
        assert word.lower() in problem.lower(), f"{request.form}: {problem!r} does not name {word!r}"
        assert record.header("x-hydro-error-code") == code, (request.form, record.headers)
        assert record.header("x-hydro-source-partition") == str(where.partition)
        assert record.header("x-hydro-source-offset") == str(where.offset)
        assert record.value == request.outgoing.value and record.key == request.outgoing.key
        assert record.header(REQUEST_ID), record.headers


# -- (d) a two-stage pipeline with an A/B stage --------------------------------------------------------------

SCALE = """
def predict(inputs):
    return {"y": inputs["x"] * FACTOR}

FACTOR = %s
"""
OFFSET = """
def predict(inputs):
    return {"z": inputs["y"] + 1.0}
"""


def test_a_pipeline_with_an_ab_stage_answers_from_kafka_as_over_http(
    platform: Platform, kafka_broker: KafkaBroker, kafka: KafkaIO, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    vector = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}]}
    scale_sig = {**vector, "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}]}
    offset_sig = {
        "inputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
        "outputs": [{"name": "z", "datatype": "FP64", "shape": [-1]}],
    }
    twice = upload(
        platform, write_model(tmp_path, f"scale-{suffix}", SCALE % 2.0, "scale:predict", scale_sig)
    )
    thrice = upload(
        platform, write_model(tmp_path, f"scale-{suffix}", SCALE % 3.0, "scale:predict", scale_sig)
    )
    plus = upload(platform, write_model(tmp_path, f"offset-{suffix}", OFFSET, "offset:predict", offset_sig))
    wait_released(platform, twice, thrice, plus)
    app = "kafka-pipeline"
    topics = kafka_application(platform, kafka_broker, app, [[(twice, 50), (thrice, 50)], [(plus, 100)]])
    kafka.read(topics.destination, topics.error)

    rng = random.Random(7)
    requests = []
    for i in range(200):
        rows = {"x": [float(rng.randint(1, 1000)) for _ in range(rng.randint(1, 3))]}
        form = "oip" if i % 2 == 0 else "plain"
        requests.append(good_request(i, app, rows, form, {}, {"x": "FP64"}))
    kafka.produce(topics.source, [r.outgoing for r in requests])
    answers = by_story_id(kafka.wait_for(topics.destination, 200, 90, lambda: platform.logs("router")))

    def branch(x: list[float], z: list[float]) -> str:
        for name, factor in (("x2", 2.0), ("x3", 3.0)):
            if np.allclose(z, np.array(x) * factor + 1.0, rtol=1e-12):
                return name
        raise AssertionError(f"z={z} is neither 2x+1 nor 3x+1 for x={x}")

    lines = {line["request_id"]: line for line in request_lines(platform) if line["application"] == app}
    over: dict[str, Counter[str]] = {"kafka": Counter(), "http": Counter()}
    for request in requests:
        x = json.loads(request.outgoing.value or b"null")
        x = x["x"] if request.form == "plain" else x["inputs"][0]["data"]
        (record,) = answers[request.story_id]
        kafka_values = answer_values(record, request.form)
        taken = branch(x, kafka_values["z"])
        over["kafka"][taken] += 1
        line = lines[record.header(REQUEST_ID) or ""]
        assert line["versions"] == [twice if taken == "x2" else thrice, plus], line

        if request.form == "oip":
            response = httpx.post(
                f"{platform.router}/v2/models/{app}/infer",
                content=request.outgoing.value,
                headers=JSON,
                timeout=30,
            )
        else:
            response = httpx.post(
                f"{platform.router}/apps/{app}", content=request.outgoing.value, headers=JSON, timeout=30
            )
        assert response.status_code == 200, response.text
        over["http"][
            branch(
                x, response.json()["z"] if request.form == "plain" else response.json()["outputs"][0]["data"]
            )
        ] += 1
        if request.form == "oip":
            kafka_body, http_body = json.loads(record.value or b"{}"), response.json()
            for body in (kafka_body, http_body):
                for tensor in body["outputs"]:
                    tensor.pop("data")
            assert kafka_body == http_body, (kafka_body, http_body)
    print(f"\n(d) A/B stage answers by variant: {dict(over)}")
    for transport, counts in over.items():
        assert 60 <= counts["x2"] <= 140 and counts["x2"] + counts["x3"] == 200, (transport, counts)
    assert kafka.records(topics.error) == []


# -- (c) two routers, one killed mid-stream -------------------------------------------------------------


def start_second_router(platform: Platform) -> str:
    """A second router process on its own ports, same catalog and scaler; its service name."""
    env = dict(platform.env, HYDRO_ROUTER_HTTP_PORT=str(free_port()), HYDRO_ROUTER_GRPC_PORT=str(free_port()))
    with open(platform.home / "router-2.log", "ab") as log:
        platform.processes["router-2"] = subprocess.Popen(
            [sys.executable, "-m", "router"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
        )
    return f"http://127.0.0.1:{env['HYDRO_ROUTER_HTTP_PORT']}"


def answers_health(url: str) -> bool:
    try:
        return httpx.get(f"{url}/v2/health/live", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def kafka_metric(url: str, name: str, app: str, code: str | None = None) -> float:
    """A sample of the router's /metrics for `app` (and error `code`); 0 when absent, -1 if unreachable."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=2).text
    except httpx.HTTPError:
        return -1.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'application="{app}"' in line:
            if code is None or f'code="{code}"' in line:
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_router_killed_mid_stream_loses_nothing(
    platform: Platform, kafka_broker: KafkaBroker, kafka: KafkaIO, fraud: Fraud
) -> None:
    second = start_second_router(platform)
    wait_until(lambda: answers_health(second), 30, "the second router answers")
    app = "kafka-failover"
    topics = kafka_application(platform, kafka_broker, app, [[(fraud.key, 100)]])
    kafka.read(topics.destination, topics.error)

    def split() -> bool:
        platform.assert_running("router-2")
        held = [kafka_metric(url, "hydro_router_kafka_partitions", app) for url in (platform.router, second)]
        return held[0] > 0 and held[1] > 0 and sum(held) == 3

    wait_until(split, 60, "the two routers share the 3 partitions")
    requests = fraud_requests(app, 1500, fraud, seed=1400)
    chunks = [requests[i : i + 25] for i in range(0, len(requests), 25)]
    killed: dict[str, int] = {}

    def kill_once_it_served_some() -> bool:
        """SIGKILL router-2 once it has answered 30 of the messages; True once it is killed."""
        if not killed:
            served = [line for line in request_lines(platform, "router-2") if line["application"] == app]
            if len(served) >= 30:
                platform.kill("router-2", signal.SIGKILL)
                killed.update(served=len(served), answers_out=len(kafka.records(topics.destination)))
        return bool(killed)

    for chunk in chunks:
        kafka.produce(topics.source, [r.outgoing for r in chunk])
        time.sleep(0.1)
        kill_once_it_served_some()
    wait_until(kill_once_it_served_some, 30, "router-2 served 30 messages", interval=0.05)
    assert killed["answers_out"] < len(requests), f"router-2 was killed after the stream ended: {killed}"

    answers = kafka.wait_for(topics.destination, len(requests), 120, lambda: platform.logs("router"))
    wait_until(
        lambda: set(by_story_id(kafka.records(topics.destination))) >= {r.story_id for r in requests},
        60,
        "every input is answered",
    )
    time.sleep(1.0)
    answers = kafka.records(topics.destination)
    answered = by_story_id(answers)
    duplicates = sum(len(v) - 1 for v in answered.values())
    print(
        f"\n(c) {len(requests)} inputs; router-2 SIGKILLed after {killed['served']} of its request lines, "
        f"{killed['answers_out']} answers out; now {len(answers)} answers, {len(answered)} inputs answered, "
        f"{duplicates} duplicates; surviving router counted "
        f"{kafka_metric(platform.router, 'hydro_router_kafka_duplicates_total', app):.0f} duplicates"
    )
    assert set(answered) == {r.story_id for r in requests}
    for request in requests:
        for record in answered[request.story_id]:
            check_answer(record, request)
    assert kafka.records(topics.error) == []
    assert kafka_metric(platform.router, "hydro_router_kafka_rebalances_total", app) >= 2
