"""Who may call what: every route of the REST API against every kind of caller, from one table.

The callers: no token, a viewer token, a deployer token, the admin token, and the service credential (what
Sonar and the scaler present). The table names every /api/v1 route (the test fails when a route has no row)
with the status each caller gets; a caller that may pass gets the endpoint's own answer (a bad body's 400,
an unknown name's 404), so the row also shows that the call reached the endpoint. After every refused write
the catalog is read back as the admin sees it and must be unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from control_plane.api import routes
from tests.control_plane.conftest import ADMIN_TOKEN, SERVICE_TOKEN, ControlPlane, unique
from tests.control_plane.drift_helpers import monitored_version
from tests.control_plane.packages import package

CALLERS = ("none", "viewer", "deployer", "admin", "service")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    """The route's path template; `{model}`, `{app}`, ... are filled with the test's own names."""
    body: Any
    statuses: tuple[int, int, int, int, int]
    """What none, viewer, deployer, admin and service get, in that order."""
    names: dict[str, str]
    """Names this row fills in differently (a DELETE aims at a name that does not exist)."""


def row(
    method: str,
    path: str,
    body: Any,
    none: int,
    viewer: int,
    deployer: int,
    admin: int,
    service: int,
    **names: str,
) -> Row:
    return Row(method, path, body, (none, viewer, deployer, admin, service), names)


V = "/api/v1/models/{model}/versions/{version}"
A = "/api/v1/applications/{app}"
J = "/api/v1/internal/drift-jobs"
APP = {"stages": [{"variants": [{"model": "{model}", "version": "{version}"}]}]}
SCHEDULE = {"cron": "0 * * * *", "window": "1h"}
CLAIM = {"lease_s": 60}  # no worker: 400
WORKER = {"worker": "w"}
LEASE = {"worker": "w", "lease_s": 60}  # not this worker's job: 409
DEFAULT = {"name": "default"}  # the config that cannot be deleted: 409
BAD_TOKEN = {"name": "Bad Name", "role": "viewer"}  # not a DNS label: 400

# fmt: off
TABLE = [
    #   method    path                                  body             none viewer deployer admin service
    row("GET",    "/api/v1/health",                     None,             200, 200, 200, 200, 200),
    row("GET",    "/api/v1/metrics",                    None,             401, 200, 200, 200, 403),
    row("GET",    "/api/v1/models",                     None,             401, 200, 200, 200, 403),
    row("POST",   "/api/v1/models/{model}/versions",    b"not a tar.gz",  401, 403, 400, 400, 403),
    row("GET",    "/api/v1/models/{model}/versions",    None,             401, 200, 200, 200, 403),
    row("GET",    V,                                    None,             401, 200, 200, 200, 403),
    row("GET",    V + "/logs",                          None,             401, 200, 200, 200, 403),
    row("DELETE", V,                                    None,             401, 403, 409, 409, 403),
    row("DELETE", "/api/v1/models/{model}",             None,             401, 403, 409, 409, 403),
    row("PUT",    "/api/v1/models/{model}/retention",  {"sample_retention_days": 7}, 401, 403, 200, 200, 403),
    row("GET",    "/api/v1/models/{model}/retention",  None,             401, 200, 200, 200, 403),
    row("GET",    V + "/artifact",                      None,             401, 403, 403, 403, 200),
    row("POST",   V + "/samples",                       {"samples": []},  401, 403, 409, 409, 403),
    row("PUT",    V + "/monitoring",                    SCHEDULE,         401, 403, 200, 200, 403),
    row("GET",    V + "/monitoring",                    None,             401, 200, 200, 200, 403),
    row("DELETE", V + "/monitoring",                    None,             401, 403, 204, 404, 403),
    row("POST",   V + "/drift-reports",                 {"since": "1h"},  401, 403, 202, 202, 403),
    row("GET",    V + "/drift-reports",                 None,             401, 200, 200, 200, 403),
    row("GET",    "/api/v1/drift-reports/{report_id}",  None,             401, 200, 200, 200, 403),
    row("GET",    "/api/v1/drift-reports/{report_id}/html", None,         401, 404, 404, 404, 403),
    row("GET",    "/api/v1/applications",               None,             401, 200, 200, 200, 403),
    row("PUT",    A,                                    APP,              401, 403, 200, 200, 403),
    row("GET",    A,                                    None,             401, 200, 200, 200, 403),
    row("DELETE", A,                                    None,             401, 403, 404, 404, 403, app="x"),
    row("POST",   A + "/invoke-keys",                   None,             401, 403, 201, 201, 403),
    row("GET",    A + "/invoke-keys",                   None,             401, 200, 200, 200, 403),
    row("DELETE", A + "/invoke-keys/{key_id}",          None,             401, 403, 404, 404, 403),
    row("GET",    "/api/v1/deployment-configs",         None,             401, 200, 200, 200, 403),
    row("PUT",    "/api/v1/deployment-configs/{name}",  {"max_replicas": 2}, 401, 403, 200, 200, 403),
    row("GET",    "/api/v1/deployment-configs/{name}",  None,             401, 200, 200, 200, 403),
    row("DELETE", "/api/v1/deployment-configs/{name}",  None,             401, 403, 409, 409, 403, **DEFAULT),
    row("POST",   "/api/v1/gc",                         None,             401, 403, 403, 409, 403),
    row("POST",   J + "/claim",                         CLAIM,            401, 403, 403, 403, 400),
    row("POST",   J + "/{report_id}/complete",          WORKER,           401, 403, 403, 403, 400),
    row("POST",   J + "/{report_id}/fail",              WORKER,           401, 403, 403, 403, 400),
    row("POST",   J + "/{report_id}/heartbeat",         LEASE,            401, 403, 403, 403, 409),
    row("POST",   "/api/v1/tokens",                     BAD_TOKEN,        401, 403, 403, 400, 403),
    row("GET",    "/api/v1/tokens",                     None,             401, 403, 403, 200, 403),
    row("DELETE", "/api/v1/tokens/{name}",              None,             401, 403, 403, 404, 403),
    row("GET",    "/api/v1/audit",                      None,             401, 403, 403, 200, 403),
    row("GET",    "/api/v1/openapi.json",               None,             401, 200, 200, 200, 403),
]
# fmt: on


def test_the_table_covers_every_route_of_the_api() -> None:
    declared = {
        (method, route.path)
        for route in routes()
        if isinstance(route, Route) and route.path.startswith("/api/v1")
        for method in route.methods or ()
        if method != "HEAD"
    }
    tabled = [(r.method, r.path) for r in TABLE]
    assert len(tabled) == len(set(tabled)), "a route has two rows"
    assert declared - set(tabled) == set(), "routes without a row in TABLE"
    assert set(tabled) - declared == set(), "rows for routes that do not exist"


async def _token(control_plane: ControlPlane, role: str) -> str:
    response = await control_plane.client.post("/api/v1/tokens", json={"name": unique(role), "role": role})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def _snapshot(control_plane: ControlPlane, names: dict[str, Any]) -> list[Any]:
    """The catalog as the admin reads it."""
    paths = [
        "/api/v1/models",
        "/api/v1/models/{model}/versions",
        "/api/v1/models/{model}/retention",
        "/api/v1/applications",
        "/api/v1/applications/{app}/invoke-keys",
        "/api/v1/deployment-configs",
        V + "/monitoring",
        V + "/drift-reports?limit=500",
        "/api/v1/tokens",
    ]
    seen = []
    for path in paths:
        response = await control_plane.client.get(path.format(**names))
        seen.append((path, response.status_code, response.json()))
    return seen


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        filled = value.format(**names)
        return int(filled) if filled.isdigit() else filled
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


async def test_every_route_answers_each_caller_as_the_table_says_and_refusals_change_nothing(
    control_plane: ControlPlane,
) -> None:
    model, version = await monitored_version(control_plane, "access")
    names: dict[str, Any] = {
        "model": model,
        "version": version,
        "app": unique("access-app"),
        "key_id": "no-such-key",
        "name": unique("access-name"),
    }
    put = await control_plane.client.put("/api/v1/applications/{app}".format(**names), json=_fill(APP, names))
    assert put.status_code == 200, put.text
    started = await control_plane.client.post(f"{V}/drift-reports".format(**names), json={"since": "1h"})
    assert started.status_code == 202, started.text
    names["report_id"] = started.json()["id"]
    tokens = {
        "none": None,
        "viewer": await _token(control_plane, "viewer"),
        "deployer": await _token(control_plane, "deployer"),
        "admin": ADMIN_TOKEN,
        "service": SERVICE_TOKEN,
    }
    got: dict[tuple[str, str], tuple[int, ...]] = {}
    async with httpx.AsyncClient(base_url=control_plane.url, timeout=60) as http:
        for entry in TABLE:
            path = entry.path.format(**{**names, **entry.names})
            statuses = []
            for caller in CALLERS:
                token = tokens[caller]
                headers = {} if token is None else {"Authorization": f"Bearer {token}"}
                refused_write = entry.method in WRITES and caller in ("none", "viewer", "service")
                before = await _snapshot(control_plane, names) if refused_write else None
                if isinstance(entry.body, bytes):
                    response = await http.request(entry.method, path, content=entry.body, headers=headers)
                elif entry.body is not None:
                    body = _fill(entry.body, names)
                    response = await http.request(entry.method, path, json=body, headers=headers)
                else:
                    response = await http.request(entry.method, path, headers=headers)
                statuses.append(response.status_code)
                if response.status_code in (401, 403):
                    assert "error" in response.json(), (entry, caller)
                if before is not None and response.status_code in (401, 403):
                    assert await _snapshot(control_plane, names) == before, (entry.method, path, caller)
            got[(entry.method, entry.path)] = tuple(statuses)
    expected = {(entry.method, entry.path): entry.statuses for entry in TABLE}
    wrong = {
        key: f"expected {expected[key]}, got {got[key]}" for key in expected if got[key] != expected[key]
    }
    assert wrong == {}, "\n".join(f"{method} {path}: {why}" for (method, path), why in wrong.items())


async def test_refusals_say_what_is_needed(control_plane: ControlPlane) -> None:
    name = unique("refused")
    await control_plane.release(name, package(name))
    viewer = await _token(control_plane, "viewer")
    artifact = f"/api/v1/models/{name}/versions/1/artifact"
    async with httpx.AsyncClient(base_url=control_plane.url) as http:
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        download = await http.get(artifact, headers=as_viewer)
        assert download.status_code == 403
        assert "needs the service credential" in download.json()["error"]
        anonymous = await http.get(artifact)
        assert anonymous.status_code == 401 and anonymous.headers["www-authenticate"] == "Bearer"

        write = await http.put("/api/v1/deployment-configs/small", json={}, headers=as_viewer)
        assert write.status_code == 403
        message = write.json()["error"]
        assert "needs the deployer role" in message and "has the viewer role" in message

        admin_download = await control_plane.client.get(artifact)
        assert admin_download.status_code == 403
        assert "the token 'admin' has the admin role" in admin_download.json()["error"]

        service_read = await http.get("/api/v1/models", headers={"Authorization": f"Bearer {SERVICE_TOKEN}"})
        assert service_read.status_code == 403
        assert "the service credential opens only" in service_read.json()["error"]

    served = await control_plane.service.get(artifact)
    assert served.status_code == 200 and served.content[:2] == b"\x1f\x8b"


@pytest.mark.parametrize("role", ["viewer", "deployer"])
async def test_a_role_token_reaches_no_token_management(control_plane: ControlPlane, role: str) -> None:
    token = await _token(control_plane, role)
    async with httpx.AsyncClient(
        base_url=control_plane.url, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        created = await http.post("/api/v1/tokens", json={"name": unique("escalate"), "role": "admin"})
    assert created.status_code == 403
    assert f"needs the admin role; the token '{role}" in created.json()["error"]
