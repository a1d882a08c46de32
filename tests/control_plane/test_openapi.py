"""The API's OpenAPI description: valid OpenAPI 3.1, served at /api/v1/openapi.json, and true to the routes.

The comparison runs both ways: every route the app serves is described, and every described operation is
a route. The fuzz test (`test_fuzz_api.py`) checks the answers against the described schemas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openapi_spec_validator import validate
from starlette.routing import Route

from control_plane.api.common import ApiRoute
from control_plane.api.openapi import document
from control_plane.app import create_app
from tests.control_plane.conftest import ControlPlane, make_settings

ROLES = {"public", "viewer", "deployer", "admin", "service"}
PUBLIC = {("GET", "/health"), ("GET", "/metrics"), ("GET", "/api/v1/health")}


def operations() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document()["paths"].items()
        for method, operation in item.items()
    }


def app_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(method, path template) of every API route of the app: all under /api/, and the bare /health and
    /metrics; HEAD is Starlette's automatic twin of GET. Anything else the app serves (the web UI) is not
    part of the API."""
    app = create_app(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hydro.db"))
    found = set()
    for route in app.routes:
        path = getattr(route, "path", "")
        if not (path.startswith("/api/") or path in ("/health", "/metrics")):
            continue
        assert isinstance(route, Route), f"{route!r} under the API is not a plain route: describe it here"
        found |= {(method, route.path) for method in route.methods or () if method != "HEAD"}
    return found


def test_the_description_is_valid_openapi_3_1() -> None:
    validate(document())
    assert document()["openapi"] == "3.1.0"


def test_every_route_is_described_and_every_described_operation_is_a_route(tmp_path: Path) -> None:
    routes = app_routes(tmp_path)
    described = set(operations())
    assert routes - described == set(), "routes missing from the OpenAPI description"
    assert described - routes == set(), "described operations that are no route"


def test_each_operation_names_the_role_its_route_enforces(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hydro.db"))
    described = operations()
    for route in app.routes:
        if isinstance(route, ApiRoute):
            for method in route.methods or ():
                if method != "HEAD":
                    operation = described[(method, route.path)]
                    assert operation["x-hydro-role"] == route.access.value, f"{method} {route.path}"


def test_every_operation_names_its_role_and_the_errors_it_can_answer() -> None:
    for (method, path), operation in operations().items():
        role = operation["x-hydro-role"]
        where = f"{method} {path}"
        assert role in ROLES, where
        statuses = set(operation["responses"])
        if (method, path) in PUBLIC:
            assert role == "public" and operation["security"] == [], where
        else:
            assert role != "public" and "security" not in operation, where  # the document's bearer default
            assert {"401", "403"} <= statuses, where
        if "{" in path:
            assert "404" in statuses, where
            templated = {part.strip("{}") for part in path.split("/") if part.startswith("{")}
            assert {p["name"] for p in operation["parameters"] if p["in"] == "path"} == templated, where
        body = operation.get("requestBody", {}).get("content", {})
        if "application/json" in body:
            assert {"400", "413"} <= statuses, where
        for status, answer in operation["responses"].items():
            if int(status) >= 400 and not path.endswith("/health"):  # health: 503 {"status", "error"}
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }, where
            elif status != "204":
                assert answer["content"], where


def test_the_roles_follow_the_access_rules() -> None:
    for (method, path), operation in operations().items():
        if (method, path) in PUBLIC:
            expected = "public"
        elif path.endswith("/artifact") or path.startswith("/api/v1/internal/drift-jobs/"):
            expected = "service"
        elif path.startswith(("/api/v1/tokens", "/api/v1/audit", "/api/v1/gc")):
            expected = "admin"
        elif method == "GET":
            expected = "viewer"
        else:
            expected = "deployer"
        assert operation["x-hydro-role"] == expected, f"{method} {path}"


def test_the_upload_takes_a_tar_gz_or_an_external_manifest_and_errors_have_one_shape() -> None:
    upload = operations()[("POST", "/api/v1/models/{model}/versions")]
    content = upload["requestBody"]["content"]
    assert set(content) == {"application/gzip", "application/octet-stream", "application/json"}
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/ExternalVersionSpec"}
    assert {"400", "409", "413"} <= set(upload["responses"])
    error = document()["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and error["properties"] == {"error": {"type": "string"}}
    bearer = document()["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert document()["security"] == [{"bearer": []}]


async def test_the_control_plane_serves_its_description(control_plane: ControlPlane) -> None:
    response = await control_plane.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == document()
