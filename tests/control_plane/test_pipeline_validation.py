"""A pipeline is refused unless every variant of each stage feeds every variant of the next one.

The stage-1 model turns `x` into `features` (FP32 [-1, 4]); the stage-2 models read `features`.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.control_plane.conftest import ControlPlane, unique
from tests.control_plane.packages import package


def tensor(name: str, datatype: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": shape}


X = tensor("x", "FP64", [-1])
FEATURES = tensor("features", "FP32", [-1, 4])


def signature(inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"inputs": inputs, "outputs": outputs}


def variant(model: str, weight: int = 100) -> dict[str, Any]:
    return {"model": model, "version": 1, "weight": weight}


async def release(control_plane: ControlPlane, prefix: str, sig: dict[str, Any]) -> str:
    """Release version 1 of a new model with signature `sig`; return the model's name."""
    model = unique(prefix)
    await control_plane.release(model, package(model, signature=sig))
    return model


async def put(control_plane: ControlPlane, app: str, *stages: list[dict[str, Any]]) -> Any:
    body = {"stages": [{"variants": variants} for variants in stages]}
    return await control_plane.client.put(f"/api/v1/applications/{app}", json=body)


async def test_a_two_stage_pipeline_that_fits_is_accepted(control_plane: ControlPlane) -> None:
    # Extra outputs (a debug tensor) are fine: the next stage just does not read them.
    prep = await release(control_plane, "prep", signature([X], [FEATURES, tensor("debug", "BYTES", [-1])]))
    score = await release(control_plane, "score", signature([FEATURES], [tensor("y", "FP64", [-1])]))
    app = unique("fits")

    response = await put(control_plane, app, [variant(prep)], [variant(score)])

    assert response.status_code == 200, response.text
    assert [stage["variants"][0]["model"] for stage in response.json()["stages"]] == [prep, score]


async def test_any_size_fits_a_fixed_size_either_way(control_plane: ControlPlane) -> None:
    # The producer's batch axis is -1 and the consumer fixes it; the consumer leaves axis 1 free.
    prep = await release(control_plane, "prep", signature([X], [FEATURES]))
    score = await release(control_plane, "score", signature([tensor("features", "FP32", [16, -1])], [X]))

    response = await put(control_plane, unique("loose"), [variant(prep)], [variant(score)])

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("wanted", "problem"),
    [
        (
            tensor("feature", "FP32", [-1, 4]),
            "input 'feature' (FP32 [-1, 4]) is not among the outputs of stages[0].variants[0] ('PREP:1'), "
            "which are features; every variant of a stage must produce every input of every variant of the "
            "next stage",
        ),
        (
            tensor("features", "FP64", [-1, 4]),
            "input 'features' (FP64 [-1, 4]) does not match output 'features' of stages[0].variants[0] "
            "('PREP:1'): datatype FP32",
        ),
        (
            tensor("features", "FP32", [-1]),
            "input 'features' (FP32 [-1]) does not match output 'features' of stages[0].variants[0] "
            "('PREP:1'): shape [-1, 4] has rank 2, not 1",
        ),
        (
            tensor("features", "FP32", [-1, 3]),
            "input 'features' (FP32 [-1, 3]) does not match output 'features' of stages[0].variants[0] "
            "('PREP:1'): shape [-1, 4] has size 4 on axis 1, not 3",
        ),
    ],
    ids=["missing-name", "wrong-datatype", "wrong-rank", "fixed-size-mismatch"],
)
async def test_a_stage_whose_inputs_the_previous_stage_does_not_produce_is_refused(
    control_plane: ControlPlane, wanted: dict[str, Any], problem: str
) -> None:
    prep = await release(control_plane, "prep", signature([X], [FEATURES]))
    score = await release(control_plane, "score", signature([wanted], [X]))
    app = unique("misfit")

    response = await put(control_plane, app, [variant(prep)], [variant(score)])

    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        f"application {app!r}: stages[1].variants[0] ('{score}:1') " + problem.replace("PREP", prep)
    )
    assert (await control_plane.client.get(f"/api/v1/applications/{app}")).status_code == 404


async def test_a_refused_pipeline_leaves_the_application_as_it_was(control_plane: ControlPlane) -> None:
    prep = await release(control_plane, "prep", signature([X], [FEATURES]))
    score = await release(control_plane, "score", signature([FEATURES], [tensor("y", "FP64", [-1])]))
    app = unique("kept")
    assert (await put(control_plane, app, [variant(prep)])).status_code == 200

    backwards = await put(control_plane, app, [variant(score)], [variant(prep)])

    assert backwards.status_code == 400
    assert f"stages[1].variants[0] ('{prep}:1') input 'x'" in backwards.json()["error"]
    stages = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()["stages"]
    assert [[v["model"] for v in stage["variants"]] for stage in stages] == [[prep]]


async def test_an_ab_stage_whose_variants_take_different_inputs_is_refused(
    control_plane: ControlPlane,
) -> None:
    # The router checks a request against the variant it drew, so B would refuse what A accepts.
    a = await release(control_plane, "a", signature([X], [FEATURES]))
    b = await release(control_plane, "b", signature([tensor("x", "FP32", [-1])], [FEATURES]))
    app = unique("ab")

    response = await put(control_plane, app, [variant(a, 80), variant(b, 20)])

    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        f"application {app!r}: input 'x' is FP64 [-1] in stages[0].variants[0] ('{a}:1') but FP32 [-1] "
        f"in stages[0].variants[1] ('{b}:1'); all variants of a stage (shadows too) must take the same inputs"
    )


async def test_an_ab_stage_where_one_variant_takes_an_extra_input_is_refused(
    control_plane: ControlPlane,
) -> None:
    a = await release(control_plane, "a", signature([X], [FEATURES]))
    b = await release(control_plane, "b", signature([X, tensor("z", "FP64", [-1])], [FEATURES]))
    app = unique("ab")

    response = await put(control_plane, app, [variant(a, 50), variant(b, 50)])

    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        f"application {app!r}: stages[0].variants[1] ('{b}:1') takes input 'z' that stages[0].variants[0] "
        f"('{a}:1') does not take; all variants of a stage (shadows too) must take the same inputs"
    )


async def test_a_shadow_that_lacks_an_output_the_next_stage_needs_is_refused(
    control_plane: ControlPlane,
) -> None:
    # The shadow's answers are discarded, but the next stage still has to be able to read them.
    prep = await release(control_plane, "prep", signature([X], [FEATURES]))
    shadow = await release(control_plane, "shadow", signature([X], [tensor("y", "FP64", [-1])]))
    score = await release(control_plane, "score", signature([FEATURES], [X]))
    app = unique("shadowed")

    response = await put(control_plane, app, [variant(prep, 100), variant(shadow, 0)], [variant(score)])

    assert response.status_code == 400, response.text
    assert response.json()["error"] == (
        f"application {app!r}: stages[1].variants[0] ('{score}:1') input 'features' (FP32 [-1, 4]) is not "
        f"among the outputs of stages[0].variants[1] ('{shadow}:1'), which are y; every variant of a stage "
        "must produce every input of every variant of the next stage"
    )
