"""Request ids: one id per invoke, from the caller to the router's log and into every model container.

A caller may name its request (`X-Request-Id` header, `x-request-id` gRPC metadata); the router keeps a
sane id, makes up a new one otherwise, answers with it (error or not), writes it into its JSON line for
the invoke and forwards it to the replica of every stage, shadows included, whose runtime logs it. The
Open Inference Protocol's own `id` is left alone: the answer echoes the request's.

The router's lines are read from its stderr (it runs in the test's process), each runtime's from the log
file its real `python -m runtime` process writes (see `standins.ScalerStandIn`).
"""

from __future__ import annotations

import json
import re

import grpc
import numpy as np
import pytest

from tests.router.harness import RouterLog, RouterUnderTest, StartRouter, routing_snapshot, wait_until
from tests.router.standins import application
from wire import oip_grpc

GENERATED = re.compile(r"[0-9a-f]{16}")
OIP_BODY = {"id": "oip-body-9", "inputs": [{"name": "x", "datatype": "FP64", "shape": [2], "data": [1, 2]}]}


def runtime_text(router: RouterUnderTest) -> str:
    return "".join(path.read_text(errors="replace") for path in sorted(router.scaler.logs.glob("*.log")))


def runtime_ids(router: RouterUnderTest, version_key: str) -> list[str | None]:
    """The request ids that the runtimes of `version_key` logged, in order."""
    ids = []
    for path in sorted(router.scaler.logs.glob(f"{version_key.replace(':', '-')}-*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                record = json.loads(line)
                if record.get("logger") == "runtime.requests":
                    ids.append(record["request_id"])
    return ids


async def until_logged(router: RouterUnderTest, version_key: str, request_id: str) -> None:
    await wait_until(
        lambda: request_id in runtime_ids(router, version_key), 10, f"{version_key} to log {request_id}"
    )


@pytest.fixture
async def router(start_router: StartRouter) -> RouterUnderTest:
    """The usual applications plus `traced`: double:1 (with which:1 as its shadow), then add-one:1."""
    routing = routing_snapshot()
    routing.applications.append(
        application("traced", [("double:1", 100), ("which:1", 0)], [("add-one:1", 100)])
    )
    return await start_router(snapshot=routing)


async def test_the_callers_id_comes_back_and_reaches_every_stage_and_shadow_over_http(
    router: RouterUnderTest, router_log: RouterLog
) -> None:
    response = await router.http.post(
        "/v2/models/traced/infer", json=OIP_BODY, headers={"X-Request-Id": "checkout-42/attempt-1"}
    )

    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "checkout-42/attempt-1"
    assert response.json()["id"] == "oip-body-9", "the protocol's id is the request's, echoed"
    assert response.json()["outputs"][0]["data"] == [3.0, 5.0]
    line = router_log.of("checkout-42/attempt-1")
    assert line["level"] == "INFO"
    assert line["event"] == "invoke" and line["router"] == "router-under-test"
    assert (line["application"], line["transport"], line["status"], line["code"]) == (
        "traced",
        "http",
        200,
        "ok",
    )
    assert line["versions"] == ["double:1", "add-one:1"]
    assert line["shadows"] == ["which:1"]
    assert line["latency_ms"] >= line["held_ms"] > 0, "the first request waited for cold starts"
    for version_key in ("double:1", "add-one:1", "which:1"):
        await until_logged(router, version_key, "checkout-42/attempt-1")


async def test_the_callers_id_comes_back_and_reaches_every_stage_over_grpc(
    router: RouterUnderTest, router_log: RouterLog
) -> None:
    request = oip_grpc.encode_infer_request("traced", {"x": np.array([4.0])}, request_id="oip-g")

    call = router.inference.ModelInfer(request, metadata=(("x-request-id", "grpc-trace-7"),), timeout=60)
    answer = await call

    assert answer.id == "oip-g"
    assert oip_grpc.decode_infer_response(answer)["z"].tolist() == [9.0]
    assert ("x-request-id", "grpc-trace-7") in tuple(await call.trailing_metadata())
    line = router_log.of("grpc-trace-7")
    assert (line["transport"], line["status"], line["versions"]) == ("grpc", "OK", ["double:1", "add-one:1"])
    for version_key in ("double:1", "add-one:1", "which:1"):
        await until_logged(router, version_key, "grpc-trace-7")


async def test_a_request_without_an_id_gets_a_new_one_everywhere(
    router: RouterUnderTest, router_log: RouterLog
) -> None:
    first = await router.http.post("/apps/double", json={"x": [1.0]})
    second = await router.http.post("/apps/double", json={"x": [2.0]})
    call = router.inference.ModelInfer(
        oip_grpc.encode_infer_request("double", {"x": np.array([3.0])}), timeout=60
    )
    answer = await call

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    ids.append(dict(tuple(await call.trailing_metadata()))["x-request-id"])
    assert all(GENERATED.fullmatch(request_id) for request_id in ids), ids
    assert len(set(ids)) == 3
    assert answer.id == ""
    assert [router_log.of(request_id)["status"] for request_id in ids] == [200, 200, "OK"]
    await until_logged(router, "double:1", ids[-1])  # the runtime writes its lines in batches
    assert runtime_ids(router, "double:1") == ids


@pytest.mark.parametrize(
    "given",
    [b"x" * 129, b"tab\there", b"caf\xc3\xa9", b"has space"],
    ids=["too-long", "control-character", "non-ascii", "space"],
)
async def test_an_insane_http_id_is_replaced_not_echoed(
    router: RouterUnderTest, router_log: RouterLog, given: bytes
) -> None:
    response = await router.http.post("/apps/double", json={"x": [1.0]}, headers={"X-Request-Id": given})

    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    assert GENERATED.fullmatch(request_id)
    line = router_log.of(request_id)
    assert line["refused_request_id"] is True
    await until_logged(router, "double:1", request_id)
    assert runtime_ids(router, "double:1") == [request_id]
    shown = given.decode("latin-1")
    assert shown not in router_log.text and shown not in runtime_text(router)


async def test_an_insane_grpc_id_is_replaced_not_echoed(
    router: RouterUnderTest, router_log: RouterLog
) -> None:
    for given in ("y" * 300, "has space"):
        call = router.inference.ModelInfer(
            oip_grpc.encode_infer_request("double", {"x": np.array([1.0])}),
            metadata=(("x-request-id", given),),
            timeout=60,
        )
        await call
        request_id = dict(tuple(await call.trailing_metadata()))["x-request-id"]

        assert GENERATED.fullmatch(request_id)
        assert router_log.of(request_id)["refused_request_id"] is True
        await until_logged(router, "double:1", request_id)
        assert given not in router_log.text and given not in runtime_text(router)
    assert len(runtime_ids(router, "double:1")) == 2


async def test_errors_carry_the_request_id_too(router: RouterUnderTest, router_log: RouterLog) -> None:
    unknown = await router.http.post(
        "/v2/models/nope/infer", json=OIP_BODY, headers={"X-Request-Id": "lost-1"}
    )
    malformed = await router.http.post(
        "/v2/models/double/infer", content=b"{not json", headers={"X-Request-Id": "bad-1"}
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await router.inference.ModelInfer(
            oip_grpc.encode_infer_request("nope", {"x": np.array([1.0])}),
            metadata=(("x-request-id", "lost-2"),),
            timeout=10,
        )

    assert (unknown.status_code, unknown.headers["x-request-id"]) == (404, "lost-1")
    assert (malformed.status_code, malformed.headers["x-request-id"]) == (400, "bad-1")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert ("x-request-id", "lost-2") in tuple(caught.value.trailing_metadata())
    line = router_log.of("lost-1")
    assert (line["status"], line["code"], line["error"]) == (404, "not_found", "unknown application 'nope'")
    assert line["versions"] == []
    assert router_log.of("bad-1")["code"] == "invalid_input"
    assert router_log.of("lost-2")["status"] == "NOT_FOUND"


async def test_at_level_warning_only_failures_are_logged(
    start_router: StartRouter, router_log: RouterLog
) -> None:
    routing = routing_snapshot()
    routing.applications.append(application("later", [("which:7", 100)]))  # never released: 503
    router = await start_router(snapshot=routing, router_request_log_level="warning")

    ok = await router.http.post("/apps/double", json={"x": [1.0]}, headers={"X-Request-Id": "fine-1"})
    unavailable = await router.http.post("/apps/later", json={"x": [1.0]}, headers={"X-Request-Id": "down-1"})

    assert (ok.status_code, unavailable.status_code) == (200, 503)
    assert [line["request_id"] for line in router_log.lines()] == ["down-1"]
    assert router_log.of("down-1")["level"] == "WARNING"
