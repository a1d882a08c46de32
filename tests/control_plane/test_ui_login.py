"""Logging in to the web UI with an API token, the session cookie, CSRF, logout and expiry, against a real
control plane on PostgreSQL and on SQLite."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from control_plane.ui.web import COOKIE
from tests.cli.test_tls import write_certificates
from tests.control_plane.conftest import ADMIN_TOKEN, ControlPlane, make_settings, running
from tests.control_plane.drift_helpers import ManualClock
from tests.control_plane.ui_helpers import browser, csrf, csrf_of, log_in, token


async def test_the_root_leads_to_the_ui_and_the_ui_to_its_login(control_plane: ControlPlane) -> None:
    async with browser(control_plane) as client:
        root = await client.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/ui"
        ui = await client.get("/ui/models")
        assert ui.status_code == 303 and ui.headers["location"] == "/ui/login?next=/ui/models"
        form = await client.get("/ui/login")
        assert form.status_code == 200
        assert '<label for="token">API token</label>' in form.text


async def test_a_wrong_token_is_refused_in_words(control_plane: ControlPlane) -> None:
    async with browser(control_plane) as client:
        response = await client.post("/ui/login", data={"token": "not-a-token"})
        assert response.status_code == 401
        assert "the bearer token is not valid" in response.text
        assert COOKIE not in response.cookies
        empty = await client.post("/ui/login", data={"token": ""})
        assert empty.status_code == 401 and "enter an API token" in empty.text
        service = await client.post("/ui/login", data={"token": "control-plane-test-service-token"})
        assert service.status_code == 401 and "service credential cannot log in" in service.text


async def test_the_session_cookie_is_httponly_strict_and_expiring(control_plane: ControlPlane) -> None:
    async with browser(control_plane) as client:
        response = await client.post("/ui/login", data={"token": ADMIN_TOKEN, "next": "/ui/models"})
        assert response.status_code == 303 and response.headers["location"] == "/ui/models"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/ui", "max-age=28800"} <= flags
        assert "secure" not in flags  # plain HTTP here; the TLS test below sees Secure
        overview = await client.get("/ui")
        assert overview.status_code == 200
        assert "admin (admin)" in overview.text


async def test_a_login_elsewhere_is_not_a_target(control_plane: ControlPlane) -> None:
    async with browser(control_plane) as client:
        response = await client.post("/ui/login", data={"token": ADMIN_TOKEN, "next": "//evil.example/ui"})
        assert response.headers["location"] == "/ui"


async def test_logout_needs_the_csrf_token_and_ends_the_session_server_side(
    control_plane: ControlPlane,
) -> None:
    async with browser(control_plane) as client:
        await log_in(client)
        session_id = client.cookies[COOKIE]
        forged = await client.post("/ui/logout")
        assert forged.status_code == 403
        assert "CSRF token is missing" in forged.text
        wrong = await client.post("/ui/logout", data={"csrf_token": "0" * 64})
        assert wrong.status_code == 403
        assert (await client.get("/ui")).status_code == 200  # still logged in
        out = await client.post("/ui/logout", data={"csrf_token": await csrf(client)})
        assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    async with browser(control_plane) as replay:  # the old cookie, presented again, opens nothing
        replay.cookies.set(COOKIE, session_id, path="/ui")
        again = await replay.get("/ui")
        assert again.status_code == 303 and again.headers["location"].startswith("/ui/login")


async def test_a_csrf_token_belongs_to_its_own_session(control_plane: ControlPlane) -> None:
    async with browser(control_plane) as first, browser(control_plane) as second:
        await log_in(first)
        await log_in(second)
        first_token = await csrf(first)
        assert first_token != await csrf(second)
        refused = await second.post("/ui/logout", data={"csrf_token": first_token})
        assert refused.status_code == 403


async def test_revoking_the_token_ends_its_sessions(control_plane: ControlPlane) -> None:
    secret = await token(control_plane, "viewer")
    async with browser(control_plane) as client:
        await log_in(client, secret)
        page = await client.get("/ui")
        assert page.status_code == 200
        name = page.text.split('<span id="who">')[1].split(" (")[0]
        revoked = await control_plane.client.delete(f"/api/v1/tokens/{name}")
        assert revoked.status_code == 204
        after = await client.get("/ui")
        assert after.status_code == 303


@pytest.fixture
async def clocked(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[ControlPlane, ManualClock]]:
    clock = ManualClock()
    async with running(make_settings(tmp_path, database_url, ui_session_hours=1), clock=clock) as plane:
        yield plane, clock


async def test_a_session_expires_after_its_hours(clocked: tuple[ControlPlane, ManualClock]) -> None:
    control_plane, clock = clocked
    async with browser(control_plane) as client:
        response = await log_in(client)
        assert "max-age=3600" in response.headers["set-cookie"].lower()
        clock.advance(minutes=59)
        assert (await client.get("/ui")).status_code == 200
        clock.advance(minutes=1)
        expired = await client.get("/ui")
        assert expired.status_code == 303 and expired.headers["location"].startswith("/ui/login")
        htmx = await client.get("/ui/fragments/applications", headers={"HX-Request": "true"})
        assert htmx.status_code == 204 and htmx.headers["hx-redirect"].startswith("/ui/login")


async def test_under_tls_the_cookie_is_secure(tmp_path: Path) -> None:
    files = write_certificates(tmp_path / "tls")
    settings = make_settings(
        tmp_path,
        f"sqlite+aiosqlite:///{tmp_path}/hydro.db",
        tls_cert_file=files["cert"],
        tls_key_file=files["key"],
    )
    async with running(settings):
        url = f"https://127.0.0.1:{settings.control_plane_port}"
        async with httpx.AsyncClient(
            base_url=url, verify=ssl.create_default_context(cafile=str(files["ca"]))
        ) as client:
            response = await client.post("/ui/login", data={"token": ADMIN_TOKEN})
            assert response.status_code == 303
            flags = {part.strip().lower() for part in response.headers["set-cookie"].split(";")[1:]}
            assert {"secure", "httponly", "samesite=strict"} <= flags
            overview = await client.get("/ui")
            assert overview.status_code == 200
            assert csrf_of(overview.text)
