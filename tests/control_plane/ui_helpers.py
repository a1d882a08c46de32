"""What the web UI tests share: a browser-like HTTP client (a cookie jar, no redirects followed), logging in
with a token, the CSRF token of a page, API tokens of each role, and an application with a 90/10 split."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.control_plane.conftest import ADMIN_TOKEN, ControlPlane, unique
from tests.control_plane.packages import package

_CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]{64})"')


@asynccontextmanager
async def browser(
    control_plane: ControlPlane, base_url: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that keeps cookies, as a browser would, and shows redirects instead of following."""
    async with httpx.AsyncClient(base_url=base_url or control_plane.url, timeout=30) as client:
        yield client


async def log_in(client: httpx.AsyncClient, token: str = ADMIN_TOKEN) -> httpx.Response:
    response = await client.post("/ui/login", data={"token": token, "next": "/ui"})
    assert response.status_code == 303, response.text
    return response


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page carries no CSRF token"
    return found.group(1)


async def csrf(client: httpx.AsyncClient) -> str:
    page = await client.get("/ui")
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


async def token(control_plane: ControlPlane, role: str) -> str:
    response = await control_plane.client.post("/api/v1/tokens", json={"name": unique(role), "role": role})
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


async def canary_application(control_plane: ControlPlane) -> tuple[str, str]:
    """A released model with two versions and an application sending them 90 and 10; (app, model)."""
    model, app = unique("ui-model"), unique("ui-app")
    stable = await control_plane.release(model, package(model))
    canary = await control_plane.release(model, package(model))
    body = {
        "stages": [
            {
                "variants": [
                    {"model": model, "version": stable, "weight": 90},
                    {"model": model, "version": canary, "weight": 10},
                ]
            }
        ]
    }
    response = await control_plane.client.put(f"/api/v1/applications/{app}", json=body)
    assert response.status_code == 200, response.text
    return app, model
