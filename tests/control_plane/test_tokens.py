"""API tokens: an admin creates one with a role (its secret shown once, stored hashed), lists them without
secrets, and revokes them; the last admin token that can log in is kept."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.control_plane.conftest import ControlPlane, make_settings, running, unique
from tests.control_plane.packages import package


def _as(control_plane: ControlPlane, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=control_plane.url, headers={"Authorization": f"Bearer {token}"})


async def _create(
    control_plane: ControlPlane, name: str, role: str, client: httpx.AsyncClient | None = None
) -> str:
    response = await (client or control_plane.client).post(
        "/api/v1/tokens", json={"name": name, "role": role}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["name"] == name and body["role"] == role
    token: str = body["token"]
    return token


async def test_a_deployer_token_is_created_listed_without_its_secret_used_and_revoked(
    control_plane: ControlPlane,
) -> None:
    name = unique("ci")
    token = await _create(control_plane, name, "deployer")
    assert token.startswith("ht_")

    listed = await control_plane.client.get("/api/v1/tokens")
    assert listed.status_code == 200
    entry = next(t for t in listed.json()["tokens"] if t["name"] == name)
    assert set(entry) == {"name", "role", "created_at"} and entry["role"] == "deployer"
    assert token not in listed.text

    model = unique("by-ci")
    async with _as(control_plane, token) as ci:
        uploaded = await ci.post(f"/api/v1/models/{model}/versions", content=package(model))
        assert uploaded.status_code == 202, uploaded.text
        assert (await ci.get("/api/v1/models")).status_code == 200
        assert (await ci.get("/api/v1/tokens")).status_code == 403

        revoked = await control_plane.client.delete(f"/api/v1/tokens/{name}")
        assert revoked.status_code == 204
        after = await ci.get("/api/v1/models")
        assert after.status_code == 401 and "not valid" in after.json()["error"]
    again = await control_plane.client.delete(f"/api/v1/tokens/{name}")
    assert again.status_code == 404 and name in again.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"name": "Not A Label", "role": "viewer"}, 400, "token name 'Not A Label' is not valid"),
        ({"name": "ok-name", "role": "owner"}, 400, "role must be one of viewer, deployer, admin"),
        ({"name": "ok-name"}, 400, "role must be one of"),
        ({"role": "viewer"}, 400, "name is required"),
        ({"name": "ok-name", "role": "viewer", "secret": "x"}, 400, "unknown field(s) 'secret'"),
        (["ok-name"], 400, "must be a JSON object"),
        ({"name": "admin", "role": "viewer"}, 409, "kept for the bootstrap admin token"),
    ],
)
async def test_bad_token_requests_are_refused_naming_the_problem(
    control_plane: ControlPlane, body: Any, status: int, message: str
) -> None:
    before = (await control_plane.client.get("/api/v1/tokens")).json()
    response = await control_plane.client.post("/api/v1/tokens", json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert (await control_plane.client.get("/api/v1/tokens")).json() == before


async def test_a_taken_name_is_a_conflict(control_plane: ControlPlane) -> None:
    name = unique("twice")
    first = await _create(control_plane, name, "viewer")
    second = await control_plane.client.post("/api/v1/tokens", json={"name": name, "role": "admin"})
    assert second.status_code == 409 and "exists already" in second.json()["error"]
    async with _as(control_plane, first) as viewer:  # the first keeps its role
        assert (await viewer.get("/api/v1/tokens")).status_code == 403


async def test_the_environment_admin_token_cannot_be_revoked(control_plane: ControlPlane) -> None:
    response = await control_plane.client.delete("/api/v1/tokens/admin")
    assert response.status_code == 404
    assert "HYDRO_ADMIN_TOKEN" in response.json()["error"] and "cannot be revoked" in response.json()["error"]
    other = await _create(control_plane, unique("second-admin"), "admin")
    async with _as(control_plane, other) as second:
        assert (await second.get("/api/v1/audit")).status_code == 200


async def test_the_last_admin_that_can_log_in_stays_and_a_revoked_bootstrap_is_not_regenerated(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hydro.db", admin_token=None)
    async with running(settings) as control_plane:
        bootstrap = (tmp_path / "token").read_text().strip()
        async with _as(control_plane, bootstrap) as admin:
            listed = (await admin.get("/api/v1/tokens")).json()["tokens"]
            assert [(t["name"], t["role"]) for t in listed] == [("admin", "admin")]
            last = await admin.delete("/api/v1/tokens/admin")
            assert last.status_code == 409 and "no admin token that can log in" in last.json()["error"]

            successor = await _create(control_plane, "ops", "admin", client=admin)
            viewer = await _create(control_plane, "reader", "viewer", client=admin)
            assert (await admin.delete("/api/v1/tokens/admin")).status_code == 204
        async with _as(control_plane, successor) as ops:
            assert (await ops.delete("/api/v1/tokens/reader")).status_code == 204
            own = await ops.delete("/api/v1/tokens/ops")
            assert own.status_code == 409
    capfd.readouterr()

    async with running(make_settings(tmp_path, settings.database_url, admin_token=None)) as again:
        assert "Hydro admin token" not in capfd.readouterr().err  # an admin exists: nothing generated
        async with _as(again, successor) as ops:
            assert (await ops.get("/api/v1/tokens")).status_code == 200
        async with _as(again, bootstrap) as old, _as(again, viewer) as gone:
            assert (await old.get("/api/v1/models")).status_code == 401
            assert (await gone.get("/api/v1/models")).status_code == 401
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("hydro.db*"))
    assert hashlib.sha256(successor.encode()).hexdigest().encode() in stored  # stored as its digest ...
    assert successor.encode() not in stored and bootstrap.encode() not in stored  # ... but no secret
