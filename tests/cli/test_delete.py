"""`hydro models delete MODEL[:N] [--purge]`, `hydro apps delete APP`, `hydro configs list|show|set|delete`
and `hydro gc`: a user cleans up what they no longer serve, and is told what stops them."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

from tests.cli.conftest import ADMIN_HEADERS, ControlPlane
from tests.control_plane.packages import package


def release(control_plane: ControlPlane, model: str) -> int:
    """Upload a small package and wait for its release (the process runtime builds nothing)."""
    with httpx.Client(base_url=control_plane.url, headers=ADMIN_HEADERS, timeout=30) as http:
        accepted = http.post(f"/api/v1/models/{model}/versions", content=package(model))
        assert accepted.status_code == 202, accepted.text
        version: int = accepted.json()["version"]
        deadline = time.monotonic() + 60
        while (status := http.get(f"/api/v1/models/{model}/versions/{version}").json()["status"]) not in (
            "released",
            "failed",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status == "released"
        return version


def put_app(control_plane: ControlPlane, app: str, model: str, version: int, config: str) -> None:
    body = {"variants": [{"model": model, "version": version, "deployment_config": config}]}
    with httpx.Client(base_url=control_plane.url, headers=ADMIN_HEADERS, timeout=30) as http:
        answer = http.put(f"/api/v1/applications/{app}", json=body)
    assert answer.status_code == 200, answer.text


def test_a_user_deletes_an_application_then_its_config_and_model(
    hydro: Any, control_plane: ControlPlane
) -> None:
    suffix = uuid.uuid4().hex[:6]
    model, app, config = f"old-{suffix}", f"old-app-{suffix}", f"tiny-{suffix}"
    first, second = release(control_plane, model), release(control_plane, model)

    made = hydro("configs", "set", config, "max_replicas=2", "cpu=0.5")
    assert made.exit_code == 0, made.output
    assert '"max_replicas": 2' in made.stdout and '"cpu": 0.5' in made.stdout
    listed = hydro("configs", "list")
    assert listed.exit_code == 0 and config in listed.stdout and "default" in listed.stdout
    shown = hydro("configs", "show", config)
    assert shown.exit_code == 0 and '"min_replicas": 0' in shown.stdout
    bad = hydro("configs", "set", config, "max_replicas")
    assert bad.exit_code == 2 and "KEY=VALUE" in bad.output
    put_app(control_plane, app, model, first, config)

    in_use = hydro("models", "delete", f"{model}:{first}")
    assert in_use.exit_code == 1 and f"application '{app}'" in in_use.stderr
    config_in_use = hydro("configs", "delete", config)
    assert config_in_use.exit_code == 1 and f"application '{app}'" in config_in_use.stderr
    default = hydro("configs", "delete", "default")
    assert default.exit_code == 1 and "cannot be deleted" in default.stderr

    assert hydro("apps", "delete", app).exit_code == 0
    assert app not in hydro("apps").stdout
    assert hydro("configs", "delete", config).exit_code == 0
    one = hydro("models", "delete", f"{model}:{first}")
    assert one.exit_code == 0, one.output
    assert f"deleted {model}:{first}: 1 stored objects" in one.stdout
    assert f"{model}:{first}" not in hydro("models", model).stdout
    again = hydro("models", "delete", f"{model}:{first}")
    assert again.exit_code == 1 and f"has no version {first}" in again.stderr
    whole = hydro("models", "delete", model, "--purge")
    assert whole.exit_code == 0 and f"deleted {model}:{second}" in whole.stdout
    assert model not in hydro("models").stdout
    bad_key = hydro("models", "delete", f"{model}:zero")
    assert bad_key.exit_code == 2


def test_gc_says_when_there_is_no_registry(hydro: Any) -> None:
    refused = hydro("gc", "--dry-run")
    assert refused.exit_code == 1 and "process runtime" in refused.stderr
