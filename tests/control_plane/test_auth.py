"""Every /api/v1 call but the health check needs a valid bearer token. Without HYDRO_ADMIN_TOKEN an admin
token is generated once. (Which role opens which route: test_access.py.)"""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from tests.control_plane.conftest import ControlPlane, make_settings, running, unique
from tests.control_plane.packages import package

CALLS = [
    ("POST", "/api/v1/models/m/versions"),
    ("PUT", "/api/v1/applications/app"),
    ("DELETE", "/api/v1/applications/app"),
    ("PUT", "/api/v1/deployment-configs/small"),
    ("GET", "/api/v1/models"),
    ("GET", "/api/v1/models/m/versions/1/artifact"),
    ("GET", "/api/v1/no-such-route"),
]


@pytest.mark.parametrize(("method", "path"), CALLS)
@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "missing Authorization header"),
        ("Bearer wrong-token", "the bearer token is not valid"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <token>'"),
        ("Bearer", "empty bearer token"),
    ],
)
async def test_calls_without_a_valid_token_get_401(
    control_plane: ControlPlane, method: str, path: str, authorization: str | None, message: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(base_url=control_plane.url, headers=headers) as anonymous:
        response = await anonymous.request(method, path, content=b"{}")
    assert response.status_code == 401
    assert message in response.json()["error"]
    assert response.headers["www-authenticate"] == "Bearer"


async def test_only_the_health_checks_and_the_scrape_route_are_public(control_plane: ControlPlane) -> None:
    async with httpx.AsyncClient(base_url=control_plane.url) as anonymous:
        for path in ("/api/v1/health", "/health", "/metrics"):
            assert (await anonymous.get(path)).status_code == 200, path
        for path in (
            "/api/v1/models",
            "/api/v1/applications",
            "/api/v1/deployment-configs",
            "/api/v1/metrics",
        ):
            assert (await anonymous.get(path)).status_code == 401, path
        # a wrong token on a public route is ignored, not refused
        wrong = {"Authorization": "Bearer wrong"}
        assert (await anonymous.get("/api/v1/health", headers=wrong)).status_code == 200


async def test_a_token_is_generated_on_first_start_stored_hashed_and_printed_once(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hydro.db", admin_token=None)
    token_file = tmp_path / "token"
    async with running(settings) as control_plane:
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert (
            f"Hydro admin token (shown once; also written to {token_file}):\n  {token}"
            in capfd.readouterr().err
        )
        name = unique("tokened")
        wrong = await control_plane.upload(name, package(name))  # the client carries the test's fixed token
        assert wrong.status_code == 401
        right = await control_plane.upload(name, package(name), headers={"Authorization": f"Bearer {token}"})
        assert right.status_code == 202, right.text
    assert token not in (tmp_path / "hydro.db").read_bytes().decode(errors="replace")

    async with running(make_settings(tmp_path, settings.database_url, admin_token=None)) as again:
        assert token not in capfd.readouterr().err  # printed only once
        response = await again.upload(name, package(name), headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 202 and response.json()["version"] == 2


async def test_when_the_tokens_cannot_be_read_calls_are_refused_not_let_through(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hydro.db")
    async with running(settings) as control_plane:
        engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path}/hydro.db")
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("ALTER TABLE api_tokens RENAME TO api_tokens_gone"))
        engine.dispose()
        response = await control_plane.client.get("/api/v1/models")
        assert response.status_code == 503 and "cannot check credentials" in response.json()["error"]
        assert (await control_plane.client.get("/api/v1/health")).status_code == 200
