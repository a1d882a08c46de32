"""A model's retention of sampled traffic: a deployer sets it (days, or null for Sonar's default), anyone
may read it, a bad value is a 400 that changes nothing, an unknown model a 404; each change is a new catalog
revision whose snapshot tells Sonar, and a real Sonar following the catalog deletes by it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from servicekit.object_keys import sample_part_key
from servicekit.object_store import open_object_store
from tests.control_plane.conftest import SERVICE_TOKEN, ControlPlane, unique
from tests.control_plane.test_external_versions import register, snapshot
from tests.sonar.harness import start_sonar


def retention(model: str) -> str:
    return f"/api/v1/models/{model}/retention"


async def test_a_deployer_sets_reads_and_clears_a_models_retention_and_the_snapshot_carries_it(
    control_plane: ControlPlane,
) -> None:
    model, other = unique("kept"), unique("other")
    await register(control_plane, model)
    await register(control_plane, other)
    response = await control_plane.client.get(retention(model))
    assert response.status_code == 200, response.text
    assert response.json() == {"model": model, "sample_retention_days": None}, "new: Sonar's default"
    before = await snapshot(control_plane)
    assert model not in before.sample_retention_days

    response = await control_plane.client.put(retention(model), json={"sample_retention_days": 7})
    assert response.status_code == 200, response.text
    assert response.json() == {"model": model, "sample_retention_days": 7}
    assert (await control_plane.client.get(retention(model))).json()["sample_retention_days"] == 7
    await control_plane.client.put(retention(other), json={"sample_retention_days": 0.5})
    after = await snapshot(control_plane)
    assert after.revision > before.revision, "a retention change is a new catalog revision"
    assert after.sample_retention_days[model] == 7 and after.sample_retention_days[other] == 0.5

    response = await control_plane.client.put(retention(model), json={"sample_retention_days": None})
    assert response.status_code == 200, response.text
    assert response.json() == {"model": model, "sample_retention_days": None}
    cleared = await snapshot(control_plane)
    assert cleared.revision > after.revision
    assert model not in cleared.sample_retention_days and cleared.sample_retention_days[other] == 0.5


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"sample_retention_days": 0}, "greater than 0"),
        ({"sample_retention_days": -3}, "greater than 0"),
        ({"sample_retention_days": 3651}, "less than or equal to 3650"),
        ({"sample_retention_days": "7"}, "a number of days or null"),
        ({"sample_retention_days": True}, "a number of days or null"),
        ({}, "missing required key 'sample_retention_days'"),
        ({"sample_retention_days": 7, "days": 7}, "unknown key 'days'"),
        ([7], "expected a JSON object"),
    ],
)
async def test_a_bad_value_is_refused_naming_the_problem_and_changes_nothing(
    control_plane: ControlPlane, body: Any, problem: str
) -> None:
    model = unique("kept")
    await register(control_plane, model)
    await control_plane.client.put(retention(model), json={"sample_retention_days": 14})
    response = await control_plane.client.put(retention(model), json=body)
    assert response.status_code == 400, response.text
    assert problem in response.json()["error"], response.text
    assert (await control_plane.client.get(retention(model))).json()["sample_retention_days"] == 14


async def test_an_unknown_model_has_no_retention(control_plane: ControlPlane) -> None:
    model = unique("nobody")
    for response in (
        await control_plane.client.get(retention(model)),
        await control_plane.client.put(retention(model), json={"sample_retention_days": 7}),
    ):
        assert response.status_code == 404, response.text
        assert f"model {model!r} does not exist" in response.json()["error"]


async def test_sonar_following_the_catalog_deletes_by_the_models_own_retention(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    """Sonar's default keeps 30 days; the model asks for 1: its 3-day-old samples go, the fresh ones stay,
    and another model's 3-day-old samples stay under the default."""
    model, other = unique("short"), unique("long")
    await register(control_plane, model)
    await register(control_plane, other)
    response = await control_plane.client.put(retention(model), json={"sample_retention_days": 1})
    assert response.status_code == 200, response.text
    root = control_plane.objects
    store = open_object_store(control_plane.settings.object_store_url)
    now = datetime.now(UTC)

    async def part(name: str, age: timedelta) -> Path:
        key = sample_part_key(name, 1, int((now - age).timestamp() * 1000), unique("p"))
        await store.put(key, b"x" * 10)
        return root / key

    old, fresh, others = (
        await part(model, timedelta(days=3)),
        await part(model, timedelta(hours=2)),
        await part(other, timedelta(days=3)),
    )
    await store.close()
    sonar = await start_sonar(
        tmp_path,
        catalog_address=control_plane.catalog_address,
        object_store_url=control_plane.settings.object_store_url,
        service_token=SERVICE_TOKEN,
        sample_retention_days=30,
        sample_retention_interval_s=0.2,
    )
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while old.exists():
            assert asyncio.get_running_loop().time() < deadline, sonar.log_text()
            await asyncio.sleep(0.1)
        assert fresh.exists() and others.exists()
    finally:
        await sonar.stop()
    assert f"removed 1 hourly partitions of {model}:1 (1 objects, 10 bytes)" in sonar.log_text()
