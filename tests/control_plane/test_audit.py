"""The audit trail: every write, refused ones included, with who (token name and role), what, when and how
it ended; readable by admins only, newest first, paged."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy

from tests.control_plane.conftest import ControlPlane, make_settings, running, unique


async def _events(control_plane: ControlPlane, **params: Any) -> dict[str, Any]:
    response = await control_plane.client.get("/api/v1/audit", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_writes_and_refused_attempts_are_recorded_newest_first(control_plane: ControlPlane) -> None:
    config = unique("audited")
    viewer_name = unique("auditor")
    created = await control_plane.client.post("/api/v1/tokens", json={"name": viewer_name, "role": "viewer"})
    viewer = created.json()["token"]
    started = datetime.now(UTC)

    assert (
        await control_plane.client.put(f"/api/v1/deployment-configs/{config}", json={})
    ).status_code == 200
    assert (await control_plane.client.get("/api/v1/models")).status_code == 200  # reads are not recorded
    async with httpx.AsyncClient(base_url=control_plane.url) as http:
        as_viewer = {"Authorization": f"Bearer {viewer}"}
        assert (
            await http.put(f"/api/v1/deployment-configs/{config}", json={}, headers=as_viewer)
        ).status_code == 403
        assert (
            await http.delete("/api/v1/applications/x", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        bad = await control_plane.client.put(
            f"/api/v1/deployment-configs/{config}", json={"max_replicas": -1}
        )
        assert bad.status_code == 400

    events = (await _events(control_plane, limit=4))["events"]
    path = f"/api/v1/deployment-configs/{config}"
    assert [(e["token"], e["role"], e["method"], e["path"], e["status"]) for e in events] == [
        ("admin", "admin", "PUT", path, 400),
        (None, None, "DELETE", "/api/v1/applications/x", 401),
        (viewer_name, "viewer", "PUT", path, 403),
        ("admin", "admin", "PUT", path, 200),
    ]
    assert "max_replicas" in events[0]["error"]
    assert events[1]["error"] == "the bearer token is not valid"
    assert "needs the deployer role" in events[2]["error"]
    assert events[3]["error"] is None
    assert events[0]["id"] > events[1]["id"] > events[2]["id"] > events[3]["id"]
    for event in events:
        at = datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
        assert started - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(seconds=1)


async def test_the_service_credential_s_polls_are_left_out_but_its_refusals_are_kept(
    control_plane: ControlPlane,
) -> None:
    assert (
        await control_plane.client.put(f"/api/v1/deployment-configs/{unique('c')}", json={})
    ).status_code == 200
    newest = (await _events(control_plane, limit=1))["events"]
    claim = await control_plane.service.post("/api/v1/internal/drift-jobs/claim", json={"worker": "w"})
    assert claim.status_code in (200, 204)
    assert (await _events(control_plane, limit=1))["events"] == newest

    refused = await control_plane.service.post("/api/v1/internal/drift-jobs/claim", json={})
    assert refused.status_code == 400
    event = (await _events(control_plane, limit=1))["events"][0]
    assert (event["token"], event["role"], event["status"]) == ("service", "service", 400)
    upload = await control_plane.service.post("/api/v1/models/m/versions", content=b"x")
    assert upload.status_code == 403
    event = (await _events(control_plane, limit=1))["events"][0]
    assert (event["token"], event["path"], event["status"]) == ("service", "/api/v1/models/m/versions", 403)


async def test_pages_follow_next_until_none(control_plane: ControlPlane) -> None:
    for _ in range(5):
        assert (
            await control_plane.client.put(f"/api/v1/deployment-configs/{unique('p')}", json={})
        ).status_code == 200
    first = await _events(control_plane, limit=2)
    second = await _events(control_plane, limit=2, before=first["next"])
    assert len(first["events"]) == 2 and len(second["events"]) == 2
    assert first["events"][-1]["id"] == first["next"] > second["events"][0]["id"]
    seen, cursor = [], None
    while True:
        page = await _events(control_plane, limit=500, **({} if cursor is None else {"before": cursor}))
        seen += [e["id"] for e in page["events"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True) and len(seen) >= 5

    for params, message in [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"before": "x"}, "before")]:
        response = await control_plane.client.get("/api/v1/audit", params=params)
        assert response.status_code == 400 and message in response.json()["error"]


async def test_a_failing_audit_insert_is_logged_and_never_changes_the_answer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/hydro.db"
    async with running(make_settings(tmp_path, url)) as control_plane:
        engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path}/hydro.db")
        with engine.begin() as connection:  # the trail's table is gone: every insert fails
            connection.execute(sqlalchemy.text("DROP TABLE audit_events"))
        engine.dispose()
        with caplog.at_level(logging.ERROR, logger="control_plane.api.guard"):
            put = await control_plane.client.put("/api/v1/deployment-configs/still-works", json={})
            assert put.status_code == 200, put.text
            async with httpx.AsyncClient(base_url=control_plane.url) as anonymous:
                assert (await anonymous.put("/api/v1/deployment-configs/x", json={})).status_code == 401
    failures = [r for r in caplog.records if "audit trail" in r.getMessage()]
    assert len(failures) == 2 and all(r.levelno == logging.ERROR for r in failures)
