"""`hydro models retention MODEL [--days N | --default]`: a user sees and sets how many days of a model's
sampled traffic Sonar keeps."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from hydro.client import HydroClient
from tests.cli.conftest import ADMIN_HEADERS, ADMIN_TOKEN, ControlPlane
from tests.control_plane.packages import SIGNATURE


def test_a_user_sets_a_models_retention_then_goes_back_to_the_default(
    hydro: Any, control_plane: ControlPlane
) -> None:
    model = f"kept-{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=control_plane.url, headers=ADMIN_HEADERS, timeout=30) as http:
        registered = http.post(
            f"/api/v1/models/{model}/versions", json={"external": True, "signature": SIGNATURE}
        )
        assert registered.status_code == 201, registered.text

    shown = hydro("models", "retention", model)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.strip() == f"{model}: Sonar's default"
    made = hydro("models", "retention", model, "--days", "7")
    assert made.exit_code == 0, made.output
    assert made.stdout.strip() == f"{model}: 7 days of sampled traffic kept"
    assert hydro("models", "retention", model).stdout.strip() == f"{model}: 7 days of sampled traffic kept"
    cleared = hydro("models", "retention", model, "--default")
    assert cleared.exit_code == 0 and cleared.stdout.strip() == f"{model}: Sonar's default"

    both = hydro("models", "retention", model, "--days", "7", "--default")
    assert both.exit_code == 2 and "not both" in both.output
    zero = hydro("models", "retention", model, "--days", "0")
    assert zero.exit_code == 2 and "--days" in zero.output
    unknown = hydro("models", "retention", f"nobody-{uuid.uuid4().hex[:6]}", "--days", "7")
    assert unknown.exit_code == 1 and "does not exist" in unknown.stderr


def test_the_sdk_sets_and_reads_a_models_retention(control_plane: ControlPlane) -> None:
    model = f"sdk-kept-{uuid.uuid4().hex[:6]}"
    with HydroClient(control_plane.url, control_plane.router_url, token=ADMIN_TOKEN) as client:
        client.register_external(model, SIGNATURE)
        assert client.retention(model) is None
        assert client.set_retention(model, 0.5) == 0.5
        assert client.retention(model) == 0.5
        assert client.set_retention(model, None) is None
