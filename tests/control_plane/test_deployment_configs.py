"""Deployment configs: named scaling knobs, omitted keys take the KPA defaults, bad keys are named."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.control_plane.conftest import ControlPlane, make_settings, running, unique
from tests.real_parts import DEPLOYMENT_CONFIG_DEFAULTS

DEFAULTS = DEPLOYMENT_CONFIG_DEFAULTS  # Knative's KPA defaults where it has one


def knobs(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in ("name", "created_at", "updated_at")}


async def test_the_default_config_always_exists(control_plane: ControlPlane) -> None:
    response = await control_plane.client.get("/api/v1/deployment-configs/default")
    assert response.status_code == 200
    assert knobs(response.json()) == DEFAULTS
    listing = (await control_plane.client.get("/api/v1/deployment-configs")).json()["deployment_configs"]
    assert "default" in [config["name"] for config in listing]


async def test_put_creates_and_replaces_with_defaults_for_omitted_keys(control_plane: ControlPlane) -> None:
    name = unique("small")
    created = await control_plane.client.put(
        f"/api/v1/deployment-configs/{name}", json={"min_replicas": 1, "max_replicas": 3, "cpu": 0.5}
    )
    assert created.status_code == 200, created.text
    assert knobs(created.json()) == {**DEFAULTS, "min_replicas": 1, "max_replicas": 3, "cpu": 0.5}

    replaced = await control_plane.client.put(f"/api/v1/deployment-configs/{name}", json={"memory_mb": 256})
    assert knobs(replaced.json()) == {**DEFAULTS, "memory_mb": 256}
    fetched = await control_plane.client.get(f"/api/v1/deployment-configs/{name}")
    assert fetched.json() == replaced.json() | {"updated_at": fetched.json()["updated_at"]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"min_replica": 1}, "unknown key 'min_replica'"),
        ({"min_replicas": -1}, "min_replicas: Input should be greater than or equal to 0"),
        ({"min_replicas": "2"}, "min_replicas: Input should be a valid integer"),
        ({"min_replicas": 1.5}, "min_replicas: Input should be a valid integer"),
        ({"min_replicas": True}, "min_replicas: Input should be a valid integer"),
        ({"target_concurrency": 0}, "target_concurrency: Input should be greater than 0"),
        ({"panic_window_pct": 150}, "panic_window_pct: Input should be less than or equal to 100"),
        ({"max_scale_up_rate": 1}, "max_scale_up_rate: Input should be greater than 1"),
        ({"max_scale_down_rate": 0.5}, "max_scale_down_rate: Input should be greater than 1"),
        ({"max_scale_down_rate": "2"}, "max_scale_down_rate: Input should be a valid number"),
        ({"min_replicas": 4, "max_replicas": 2}, "min_replicas (4) must not exceed max_replicas (2)"),
        ([1, 2], "expected a JSON object, got an array"),
    ],
)
async def test_bad_knobs_are_refused_naming_the_key(
    control_plane: ControlPlane, body: Any, message: str
) -> None:
    name = unique("bad")
    response = await control_plane.client.put(f"/api/v1/deployment-configs/{name}", json=body)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert f"deployment config {name!r}" in response.json()["error"]
    assert (await control_plane.client.get(f"/api/v1/deployment-configs/{name}")).status_code == 404


async def test_bad_names_and_bodies(control_plane: ControlPlane) -> None:
    bad_name = await control_plane.client.put("/api/v1/deployment-configs/Big_One", json={})
    assert bad_name.status_code == 400 and "deployment config name 'Big_One'" in bad_name.json()["error"]
    not_json = await control_plane.client.put("/api/v1/deployment-configs/x", content=b"{nope")
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]
    missing = await control_plane.client.get("/api/v1/deployment-configs/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": "deployment config 'nothing-here' does not exist"}


async def test_json_bodies_over_the_size_limit_get_413_and_change_nothing(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url, max_json_body_bytes=1024)
    async with running(settings) as control_plane:
        name = unique("big")
        url = f"/api/v1/deployment-configs/{name}"
        padded = {"min_replicas": 1, "cpu": 0.5, "max_queue": 10, "memory_mb": 256}
        body = json.dumps(padded).encode() + b" " * 1024  # valid JSON, over the limit by its whitespace
        announced = await control_plane.client.put(url, content=body)
        assert announced.status_code == 413
        assert announced.json() == {
            "error": f"the request body is {len(body)} bytes, larger than the limit of 1024 bytes"
        }

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for start in range(0, len(body), 100):
                yield body[start : start + 100]

        streamed = await control_plane.client.put(url, content=chunked())
        assert streamed.status_code == 413
        assert streamed.json() == {"error": "the request body is larger than the limit of 1024 bytes"}
        assert (await control_plane.client.get(url)).status_code == 404

        within = await control_plane.client.put(url, content=json.dumps(padded).encode())
        assert within.status_code == 200, within.text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 33 + b"]" * 33, "deeper than the limit of 32 levels"),
        (b'{"cpu": ' + b"[" * 100_000, "deeper than the limit of 32 levels"),  # would be a RecursionError
        (b'{"cpu": NaN}', "holds NaN"),
        (b'{"cpu": -Infinity}', "holds -Infinity"),
        (b'{"cpu": 1e999}', "the number 1e999, too large for a 64-bit float"),  # was a 500: infinity
        (b'{"max_queue": ' + b"1" * 5000 + b"}", "Exceeds the limit (4300 digits)"),  # was a 500
        (b'{"\\ud800": 1}', "lone UTF-16 surrogate (\\ud800)"),
        (b'{"cpu": "\\u0000"}', "NUL character"),
        (b'{"cpu": "\xff"}', "not UTF-8"),
        (b"", "the request body is empty"),
    ],
)
async def test_json_bodies_that_no_answer_or_column_could_carry_get_400(
    control_plane: ControlPlane, body: bytes, message: str
) -> None:
    name = unique("odd")
    response = await control_plane.client.put(f"/api/v1/deployment-configs/{name}", content=body)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert (await control_plane.client.get(f"/api/v1/deployment-configs/{name}")).status_code == 404


async def test_a_body_at_the_depth_limit_is_read(control_plane: ControlPlane) -> None:
    name = unique("deep")
    nested: Any = {}  # 1 level
    for _ in range(29):
        nested = {"k": nested}  # 30 levels
    response = await control_plane.client.put(f"/api/v1/deployment-configs/{name}", json={"x": [nested]})
    assert response.status_code == 400  # 32 levels deep: read, then refused by the config's own keys
    assert "unknown key 'x'" in response.json()["error"]
