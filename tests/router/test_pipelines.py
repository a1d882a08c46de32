"""Applications as declared: stages run in order, and each stage's variant is drawn by weight.

The control plane and the scaler are stand-ins (real gRPC servers in the test, see `standins.py`); the
replicas are real runtime processes.
"""

from __future__ import annotations

import asyncio
import collections

import numpy as np
import scipy.stats

from router.routing import RoutingTable
from tests.router.harness import StartRouter, routing_snapshot, wait_until
from tests.router.models import V, X
from tests.router.standins import application, snapshot, version
from wire import oip_grpc


async def test_a_two_stage_pipeline_feeds_each_stage_the_previous_outputs(start_router: StartRouter) -> None:
    router = await start_router()

    plain = await router.http.post("/apps/pipeline", json={"x": [1.0, 2.0]})
    oip = await router.http.post(
        "/v2/models/pipeline/infer",
        json={"id": "p-1", "inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [10]}]},
    )
    answer = await router.inference.ModelInfer(
        oip_grpc.encode_infer_request("pipeline", {"x": np.array([-1.0])}, request_id="p-2"), timeout=30
    )

    assert plain.json() == {"z": [3.0, 5.0]}  # (x * 2) + 1
    assert oip.json() == {
        "model_name": "pipeline",
        "id": "p-1",
        "outputs": [{"name": "z", "datatype": "FP64", "shape": [1], "data": [21.0]}],
    }
    assert answer.model_name == "pipeline" and answer.id == "p-2"
    assert oip_grpc.decode_infer_response(answer)["z"].tolist() == [-1.0]
    assert router.scaler.activations == {"double:1": 1, "add-one:1": 1}


async def test_ten_thousand_requests_on_an_80_20_stage_pass_a_chi_square_test(
    start_router: StartRouter,
) -> None:
    router = await start_router()
    request = oip_grpc.encode_infer_request("ab", {"x": np.array([0.0])})
    total, workers = 10_000, 64
    served: collections.Counter[int] = collections.Counter()

    async def worker(count: int) -> None:
        for _ in range(count):
            response = await router.inference.ModelInfer(request, timeout=60)
            # The replica that answered says which variant it is: each runtime returns its own version.
            served[int(oip_grpc.decode_infer_response(response)["v"][0])] += 1

    await asyncio.gather(*(worker(total // workers + (i < total % workers)) for i in range(workers)))

    assert sorted(served) == [1, 2] and served.total() == total, served
    # Both variants answered from their own real runtime replica.
    assert {r.version_key for r in router.scaler.replicas} == {"which:1", "which:2"}
    # Within the 99.9% band of a chi-square goodness-of-fit test against the declared 80/20 split.
    _, p_value = scipy.stats.chisquare([served[1], served[2]], [0.8 * total, 0.2 * total])
    assert p_value > 0.001, (served, p_value)


def test_the_cumulative_draw_gives_each_variant_exactly_its_share() -> None:
    # Uniform draws on a fine grid land in each variant's interval in exact proportion to its weight.
    table = RoutingTable.from_snapshot(
        snapshot(
            1,
            [application("abc", [("which:1", 50), ("which:2", 30), ("which:3", 20)])],
            [version("which", n, X, V) for n in (1, 2, 3)],
        )
    )
    stage = table.routes["abc"].stages[0]
    draws = 100_000

    served = collections.Counter(stage.draw(i / draws).key for i in range(draws))

    assert served == {"which:1": 50_000, "which:2": 30_000, "which:3": 20_000}
    assert stage.draw(0.0).key == "which:1" and stage.draw(0.999999).key == "which:3"


def test_weight_zero_variants_are_shadows_and_unreleased_versions_are_not_drawn() -> None:
    table = RoutingTable.from_snapshot(
        snapshot(
            1,
            [application("ab", [("which:1", 80), ("which:2", 0), ("which:9", 20)])],
            [version("which", n, X, V) for n in (1, 2)],
        )
    )
    stage = table.routes["ab"].stages[0]

    assert [v.key for v in stage.variants] == ["which:1"]
    assert [v.key for v in stage.shadows] == ["which:2"]
    assert stage.unreleased == ("which:9",)
    assert {stage.draw(i / 100).key for i in range(100)} == {"which:1"}


async def test_an_application_whose_version_is_not_released_yet_gets_503(start_router: StartRouter) -> None:
    router = await start_router(
        snapshot=snapshot(1, [application("later", [("which:7", 100)])], [version("which", 1, X, V)])
    )

    response = await router.http.post("/apps/later", json={"x": [1.0]})

    assert response.status_code == 503
    assert "which:7" in response.json()["error"] and "'later'" in response.json()["error"]
    assert router.scaler.activations == {}


async def test_a_shadow_variant_gets_a_copy_and_its_failures_never_reach_the_caller(
    start_router: StartRouter,
) -> None:
    routing = routing_snapshot()
    routing.applications.append(application("shadowed", [("double:1", 100), ("failing:1", 0)]))
    router = await start_router(snapshot=routing)

    responses = [await router.http.post("/apps/shadowed", json={"x": [float(i)]}) for i in range(3)]

    assert [r.json() for r in responses] == [{"y": [0.0]}, {"y": [2.0]}, {"y": [4.0]}]
    shadow_failures = (
        'hydro_router_forwards_total{application="shadowed",code="INTERNAL",version="failing:1"} 3.0'
    )

    async def shadows_answered() -> bool:
        return shadow_failures in await router.metrics()

    await wait_until(shadows_answered, 10, "the shadow variant to get all three copies")
    assert router.scaler.activations == {"double:1": 1, "failing:1": 1}
