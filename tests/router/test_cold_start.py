"""Cold starts: requests at a version with no replica are held, the version is activated once, and the
held requests are served in order, within each replica's capacity, or refused clearly.

The scaler stand-in starts a real runtime process on Activate (or, when told, starts nothing).
"""

from __future__ import annotations

import asyncio
import time

import grpc
import numpy as np
import pytest

from tests.router.harness import StartRouter, gauge, until_queued, until_ready
from wire import oip_grpc


async def test_fifty_concurrent_first_requests_all_succeed_and_activate_once(
    start_router: StartRouter,
) -> None:
    # Reports every 30 s: only the immediate report on new demand can reach the scaler during the test.
    router = await start_router(router_load_report_interval_s=30)
    await asyncio.sleep(0.2)  # the periodic report at connect time has gone out
    sent = time.monotonic()

    responses = await asyncio.gather(
        *(router.http.post("/apps/double", json={"x": [float(i)]}) for i in range(50))
    )

    assert [r.status_code for r in responses] == [200] * 50, [
        r.text for r in responses if r.status_code != 200
    ]
    assert [r.json() for r in responses] == [{"y": [2.0 * i]} for i in range(50)]
    assert router.scaler.activations == {"double:1": 1}
    assert len(router.scaler.replicas) == 1
    demand = router.scaler.demand_reports("double:1")
    assert demand, "the scaler never heard of the demand"
    assert demand[0][0] - sent < 2, "demand from zero is reported at once, not at the next tick (30 s)"


async def test_cold_start_over_grpc_and_http_together_activates_once(start_router: StartRouter) -> None:
    router = await start_router()
    request = oip_grpc.encode_infer_request("double", {"x": np.array([4.0])})

    grpc_answers = [router.inference.ModelInfer(request, timeout=30) for _ in range(10)]
    http_answers = [router.http.post("/v2/models/double/infer", json=_oip([4.0])) for _ in range(10)]
    results = await asyncio.gather(*grpc_answers, *http_answers)

    for answer in results[:10]:
        assert oip_grpc.decode_infer_response(answer)["y"].tolist() == [8.0]
    for response in results[10:]:
        assert response.json()["outputs"][0]["data"] == [8.0]
    assert router.scaler.activations == {"double:1": 1}


async def test_a_hold_past_the_hold_timeout_answers_503_naming_the_application(
    start_router: StartRouter,
) -> None:
    router = await start_router(knobs={"hold_timeout_s": 0.5}, scaler={"start_on_activate": False})

    started = time.monotonic()
    response = await router.http.post("/apps/double", json={"x": [1.0]})
    waited = time.monotonic() - started

    assert response.status_code == 503
    message = response.json()["error"]
    assert (
        "'double'" in message and "double:1" in message and "0.5 s" in message and "hold_timeout_s" in message
    )
    assert response.headers["retry-after"] == "1"
    assert 0.45 < waited < 3
    assert router.scaler.activations == {"double:1": 1}

    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await router.inference.ModelInfer(
            oip_grpc.encode_infer_request("double", {"x": np.array([1.0])}), timeout=10
        )
    assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "hold timeout" in (failure.value.details() or "")


async def test_a_full_queue_answers_429_with_retry_after(start_router: StartRouter) -> None:
    router = await start_router(
        knobs={"hold_timeout_s": 1.5, "max_queue": 2}, scaler={"start_on_activate": False}
    )
    held = [asyncio.create_task(router.http.post("/apps/double", json={"x": [1.0]})) for _ in range(2)]
    await until_queued(router, "double:1", 2)

    started = time.monotonic()
    refused = await router.http.post("/apps/double", json={"x": [1.0]})
    assert time.monotonic() - started < 1, "a full queue refuses at once, without holding"
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await router.inference.ModelInfer(
            oip_grpc.encode_infer_request("double", {"x": np.array([1.0])}), timeout=5
        )

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert "max_queue" in refused.json()["error"] and "'double'" in refused.json()["error"]
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [r.status_code for r in await asyncio.gather(*held)] == [503, 503]


async def test_held_requests_never_exceed_container_concurrency_on_a_replica(
    start_router: StartRouter,
) -> None:
    # The slow model sleeps 0.2 s per request and reports the most requests it ever worked on at once;
    # its runtime runs several predictions in parallel, so only the router can keep it at 2.
    router = await start_router(knobs={"container_concurrency": 2})

    responses = await asyncio.gather(
        *(router.http.post("/apps/slow", json={"x": [float(i)]}) for i in range(8))
    )

    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert [r.json()["y"] for r in responses] == [[float(i)] for i in range(8)]
    assert max(r.json()["peak"][0] for r in responses) <= 2
    assert router.scaler.activations == {"slow:1": 1}


async def test_load_spreads_over_ready_replicas_by_outstanding_requests(start_router: StartRouter) -> None:
    router = await start_router(scaler={"replicas_per_activation": 2})
    first, second = await asyncio.gather(*(router.scaler.start_replica("slow:1") for _ in range(2)))
    await until_ready(router, "slow:1", 2)

    responses = await asyncio.gather(*(router.http.post("/apps/slow", json={"x": [1.0]}) for _ in range(8)))

    pids = [r.json()["pid"][0] for r in responses]
    # Least outstanding requests: eight at once land four and four (at least three each under load).
    assert min(pids.count(first.process.pid), pids.count(second.process.pid)) >= 3


def _oip(values: list[float]) -> dict[str, object]:
    return {"inputs": [{"name": "x", "datatype": "FP64", "shape": [len(values)], "data": values}]}


async def test_the_callers_deadline_bounds_the_hold(start_router: StartRouter) -> None:
    router = await start_router(knobs={"hold_timeout_s": 30}, scaler={"start_on_activate": False})
    request = oip_grpc.encode_infer_request("double", {"x": np.array([1.0])})

    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await router.inference.ModelInfer(request, timeout=0.5)
    response = await router.http.post("/apps/double", json={"x": [1.0]}, headers={"Request-Timeout": "0.5"})

    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert response.status_code == 504
    assert "deadline" in response.json()["error"] and "double:1" in response.json()["error"]
    assert time.monotonic() - started < 3
    assert await gauge(router, "hydro_router_queue_depth", "double:1") == 0
