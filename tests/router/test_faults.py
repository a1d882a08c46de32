"""Faults: a replica dies, the control plane goes away; callers keep getting answers.

The control plane and the scaler are stand-ins (real gRPC servers in the test, see `standins.py`); the
replicas are real runtime processes, killed with SIGKILL by PID.
"""

from __future__ import annotations

import asyncio
import time

import grpc
import httpx
import numpy as np
import pytest

from protos.inference import grpc_service_pb2 as pb
from tests.router.harness import (
    RouterUnderTest,
    StartRouter,
    routing_snapshot,
    status_is,
    until_queued,
    until_ready,
    wait_until,
)
from tests.router.models import V, X, Y
from tests.router.standins import application, snapshot, version
from wire import oip_grpc


async def test_a_killed_replica_is_taken_out_and_the_request_retried_on_another(
    start_router: StartRouter,
) -> None:
    # The scaler stand-in notices a dead replica only after 30 s, like a slow health check.
    router = await start_router(scaler={"notice_death_after_s": 30})
    first, second = await asyncio.gather(*(router.scaler.start_replica("double:1") for _ in range(2)))
    await until_ready(router, "double:1", 2)
    first.kill()
    await first.process.wait()

    responses = [await router.http.post("/apps/double", json={"x": [float(i)]}) for i in range(10)]

    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    assert [r.json() for r in responses] == [{"y": [2.0 * i]} for i in range(10)]
    metrics = await router.metrics()
    assert 'hydro_router_replicas_taken_out_total{version="double:1"} 1.0' in metrics
    assert (
        'hydro_router_forwards_total{application="double",code="UNAVAILABLE",version="double:1"} 1.0'
        in metrics
    )
    assert second.alive


async def test_a_request_to_a_version_whose_only_replica_died_is_held_until_a_new_one_is_ready(
    start_router: StartRouter,
) -> None:
    # The scaler stand-in does not notice the death: the router re-activates the version itself, once the
    # re-activation interval since the first activation has passed.
    router = await start_router(scaler={"notice_death_after_s": 30}, router_reactivate_interval_s=2)
    assert (await router.http.post("/apps/double", json={"x": [1.0]})).status_code == 200
    [replica] = router.scaler.replicas
    replica.kill()
    await replica.process.wait()

    response = await router.http.post("/apps/double", json={"x": [3.0]})

    assert response.status_code == 200, response.text
    assert response.json() == {"y": [6.0]}
    assert router.scaler.activations["double:1"] >= 2
    assert len([r for r in router.scaler.replicas if r.alive]) >= 1


async def test_the_router_keeps_serving_from_its_snapshot_while_the_control_plane_is_down(
    start_router: StartRouter,
) -> None:
    router = await start_router(router_reconnect_max_s=0.2)
    assert (await router.http.post("/apps/double", json={"x": [1.0]})).status_code == 200

    await router.catalog.stop()

    warm = await router.http.post("/apps/double", json={"x": [2.0]})
    cold = await router.http.post("/apps/pipeline", json={"x": [2.0]})  # wakes two versions meanwhile
    assert warm.json() == {"y": [4.0]}
    assert cold.json() == {"z": [5.0]}
    assert (await router.http.get("/v2/health/ready")).status_code == 200

    # The control plane comes back with a changed catalog: the router catches up.
    changed = routing_snapshot(revision=2)
    changed.applications.append(application("doubled-again", [("double:1", 100)]))
    router.catalog.snapshot = changed
    await router.catalog.start()
    await wait_until(
        lambda: status_is(router, "/v2/models/doubled-again/ready", 200), 10, "the router to catch up"
    )
    assert (await router.http.post("/apps/doubled-again", json={"x": [5.0]})).json() == {"y": [10.0]}


async def test_a_deleted_application_gets_404_at_once(start_router: StartRouter) -> None:
    router = await start_router()
    assert (await router.http.post("/apps/double", json={"x": [1.0]})).status_code == 200

    await router.catalog.publish(snapshot(2, [], [version("double", 1, X, Y)]))
    await wait_until(lambda: status_is(router, "/v2/models/double/ready", 404), 5, "the deletion to arrive")

    response = await router.http.post("/apps/double", json={"x": [1.0]})
    assert response.status_code == 404
    assert response.json() == {"error": "unknown application 'double'"}


async def _hold_one_each_way(
    router: RouterUnderTest,
) -> tuple[asyncio.Task[httpx.Response], asyncio.Task[pb.ModelInferResponse]]:
    """One HTTP and one gRPC request to `double`, both held (the scaler starts no replica)."""

    async def infer() -> pb.ModelInferResponse:
        request = oip_grpc.encode_infer_request("double", {"x": np.array([1.0])})
        response: pb.ModelInferResponse = await router.inference.ModelInfer(request, timeout=60)
        return response

    over_http = asyncio.create_task(router.http.post("/apps/double", json={"x": [1.0]}))
    over_grpc = asyncio.create_task(infer())
    await until_queued(router, "double:1", 2)
    return over_http, over_grpc


async def _assert_failed_at_once_with_404(
    over_http: asyncio.Task[httpx.Response],
    over_grpc: asyncio.Task[pb.ModelInferResponse],
    published: float,
    fragment: str,
) -> None:
    done, _ = await asyncio.wait((over_http, over_grpc), timeout=5)
    assert len(done) == 2, "a held request kept waiting after its route was removed"
    assert time.monotonic() - published < 5  # the hold timeout is 30 s
    response = over_http.result()
    assert response.status_code == 404, response.text
    assert fragment in response.json()["error"]
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        over_grpc.result()
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    assert fragment in (failure.value.details() or "")


async def test_held_requests_for_an_application_deleted_meanwhile_get_404_at_once(
    start_router: StartRouter,
) -> None:
    router = await start_router(knobs={"hold_timeout_s": 30}, scaler={"start_on_activate": False})
    over_http, over_grpc = await _hold_one_each_way(router)

    published = time.monotonic()
    await router.catalog.publish(snapshot(2, [], [version("double", 1, X, Y)]))

    await _assert_failed_at_once_with_404(
        over_http, over_grpc, published, "application 'double' was deleted while the request was held"
    )


async def test_held_requests_for_a_version_removed_meanwhile_get_404_never_its_answer(
    start_router: StartRouter,
) -> None:
    router = await start_router(knobs={"hold_timeout_s": 30}, scaler={"start_on_activate": False})
    over_http, over_grpc = await _hold_one_each_way(router)

    # A rollout: `double` now runs which:1, and double:1 leaves the catalog.
    published = time.monotonic()
    await router.catalog.publish(
        snapshot(2, [application("double", [("which:1", 100)])], [version("which", 1, X, V)])
    )
    # Had they waited, a replica of the removed version would now answer them.
    router.scaler.start_on_activate = True
    await router.scaler.start_replica("double:1")

    await _assert_failed_at_once_with_404(
        over_http, over_grpc, published, "application 'double' stopped routing to double:1"
    )
    assert (await router.http.post("/apps/double", json={"x": [1.0, 2.0]})).json() == {"v": [1, 1]}


async def test_requests_wait_briefly_for_the_first_snapshot_then_get_503(start_router: StartRouter) -> None:
    router = await start_router(router_snapshot_wait_s=0.3, catalog_address="127.0.0.1:1")

    response = await router.http.post("/apps/double", json={"x": [1.0]})

    assert response.status_code == 503
    assert "control plane" in response.json()["error"] and "127.0.0.1:1" in response.json()["error"]
    assert (await router.http.get("/v2/health/ready")).status_code == 503
    assert (await router.http.get("/v2/health/live")).status_code == 200


async def test_a_replica_stopping_under_load_before_the_router_hears_of_it_fails_no_request(
    start_router: StartRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A runtime told to stop cancels the calls gRPC accepted but had not yet handed to the model
    # (CANCELLED, grpc/grpc#41785) and, after its grace, those still running (UNAVAILABLE). Neither
    # was served: a router still sending to it (the scaler's word is late) must retry elsewhere.
    monkeypatch.setenv("HYDRO_SHUTDOWN_GRACE_S", "0.05")
    router = await start_router(scaler={"notice_death_after_s": 30})
    *stopping, last = await asyncio.gather(*(router.scaler.start_replica("double:1") for _ in range(4)))
    await until_ready(router, "double:1", 4)
    stop = asyncio.Event()
    answers: list[tuple[float, httpx.Response]] = []

    async def client(number: int) -> None:
        while not stop.is_set():
            answers.append((number, await router.http.post("/apps/double", json={"x": [float(number)]})))

    clients = [asyncio.create_task(client(n)) for n in range(32)]
    for replica in stopping:
        await asyncio.sleep(0.3)
        replica.process.terminate()
        await replica.process.wait()
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*clients)

    failed = [a.text for _, a in answers if a.status_code != 200]
    assert failed == [], f"{len(failed)} of {len(answers)} failed: {failed[:3]}"
    assert all(a.json() == {"y": [2.0 * number]} for number, a in answers)
    assert last.alive
