"""Drift reports through the control plane's API: a model owner sets a schedule or starts a run, a Sonar
worker claims the job, computes it and hands back the result, and the owner reads the JSON and the HTML.

Every test runs on PostgreSQL and on SQLite, each in a database of its own, with a clock the test moves.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from control_plane.drift_reports import RunSpec
from tests.control_plane.conftest import ControlPlane, make_settings, running, unique
from tests.control_plane.drift_helpers import (
    ManualClock,
    Worker,
    at,
    database_kinds,
    monitored_version,
    own_database,
    plane,
    put_schedule,
    reports,
    z,
)
from tests.control_plane.packages import package

Plane = tuple[ControlPlane, ManualClock]


@pytest.fixture(params=database_kinds())
async def drift(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Plane]:
    clock = ManualClock()
    async with own_database(request.param, tmp_path) as url, plane(tmp_path, url, clock) as control_plane:
        yield control_plane, clock


def _monitoring(model: str, version: int) -> str:
    return f"/api/v1/models/{model}/versions/{version}/monitoring"


def _runs(model: str, version: int) -> str:
    return f"/api/v1/models/{model}/versions/{version}/drift-reports"


async def _refused(response: httpx.Response, status: int, *words: str) -> None:
    assert response.status_code == status, (response.status_code, response.text)
    message = response.json()["error"]
    for word in words:
        assert word in message, (word, message)


async def test_a_schedule_is_stored_and_answered_back(drift: Plane) -> None:
    control_plane, clock = drift
    model, version = await monitored_version(control_plane)

    schedule = await put_schedule(
        control_plane,
        model,
        version,
        cron="0 * * * *",
        window="1h",
        thresholds={"psi": 0.2, "ks_pvalue": 0.01, "min_rows": 50},
    )
    assert schedule == {
        "model": model,
        "version": version,
        "cron": "0 * * * *",
        "window": "1h",
        "window_s": 3600,
        "thresholds": {"psi": 0.2, "ks_pvalue": 0.01, "min_rows": 50},
        "enabled": True,
        "max_catch_up": 24,
        "next_run_at": z(at("11:00")),
        "created_at": z(clock.now),
        "updated_at": z(clock.now),
    }
    assert (await control_plane.client.get(_monitoring(model, version))).json() == schedule

    # PUT replaces: keys left out take their defaults again; turning it off clears the next run.
    clock.advance(minutes=5)
    off = await put_schedule(control_plane, model, version, cron="0 * * * *", window_s=1800, enabled=False)
    assert off["thresholds"] == {} and off["window"] == "30m" and off["enabled"] is False
    assert off["next_run_at"] is None
    assert off["created_at"] == schedule["created_at"] and off["updated_at"] == z(clock.now)

    # DELETE removes it (its reports would stay); a second DELETE is a 404 naming what is missing.
    assert (await control_plane.client.delete(_monitoring(model, version))).status_code == 204
    await _refused(await control_plane.client.get(_monitoring(model, version)), 404, "no monitoring schedule")
    await _refused(
        await control_plane.client.delete(_monitoring(model, version)), 404, "no monitoring schedule"
    )


async def test_a_bad_schedule_is_refused_naming_the_field(drift: Plane) -> None:
    control_plane, _ = drift
    model, version = await monitored_version(control_plane)
    url = _monitoring(model, version)
    good = {"cron": "0 * * * *", "window": "1h"}
    bad: list[tuple[dict[str, Any], str]] = [
        ({**good, "cron": "every hour"}, "cron"),
        ({**good, "cron": "61 * * * *"}, "cron"),
        ({**good, "cron": "0 * * * * *"}, "five fields"),
        ({**good, "cron": "0 0 31 2 *"}, "never fires"),  # fuzz: croniter's "no next date" was a 500
        ({**good, "window": "1 hour"}, "window"),
        ({**good, "window": "0m"}, "window"),
        ({**good, "window": "400d"}, "366 days"),
        ({"cron": "0 * * * *"}, "window"),
        ({"cron": "0 * * * *", "window_s": 0}, "window_s"),
        ({"cron": "0 * * * *", "window_s": "3600"}, "window_s"),
        ({**good, "window_s": 60}, "disagree"),
        ({**good, "thresholds": {"bogus": 0.1}}, "thresholds.bogus"),
        ({**good, "thresholds": {"ks_pvalue": 1.5}}, "thresholds.ks_pvalue"),
        ({**good, "thresholds": {"psi": -1}}, "thresholds.psi"),
        ({**good, "thresholds": {"correction": "holm"}}, "thresholds.correction"),
        ({**good, "thresholds": {"min_rows": 0}}, "thresholds.min_rows"),
        ({**good, "thresholds": {"min_rows": 2.5}}, "thresholds.min_rows"),
        ({**good, "thresholds": {"min_rows": True}}, "thresholds.min_rows"),
        ({**good, "max_catch_up": 0}, "max_catch_up"),
        ({**good, "enabled": "yes"}, "enabled"),
        ({**good, "colour": "blue"}, "colour"),
        ({"window": "1h"}, "cron"),
    ]
    for body, field in bad:
        await _refused(await control_plane.client.put(url, json=body), 400, field)
    await _refused(await control_plane.client.put(url, content=b"{nope"), 400, "JSON")
    await _refused(await control_plane.client.put(url, json=["cron"]), 400, "JSON object")
    await _refused(await control_plane.client.get(url), 404, "no monitoring schedule")

    await _refused(
        await control_plane.client.put(_monitoring("no-such-model", 1), json=good), 404, "no-such-model"
    )
    await _refused(await control_plane.client.put(_monitoring(model, 9), json=good), 404, "no version 9")
    await _refused(await control_plane.client.put(_monitoring(model, 0), json=good), 400, "version")
    # fuzz: a number past the catalog's 32-bit integers was a 500 (OverflowError / DataError) on lookup
    await _refused(await control_plane.client.put(_monitoring(model, 2**31), json=good), 400, "version")

    plain = unique("plain")
    await control_plane.release(plain, package(plain))
    await _refused(await control_plane.client.put(_monitoring(plain, 1), json=good), 409, "training_data")

    async with httpx.AsyncClient(base_url=control_plane.url) as anonymous:
        await _refused(await anonymous.put(url, json=good), 401, "Authorization")
        await _refused(
            await anonymous.post(_runs(model, version), json={"since": "1h"}), 401, "Authorization"
        )
        await _refused(
            await anonymous.post("/api/v1/internal/drift-jobs/claim", json={"worker": "w"}),
            401,
            "Authorization",
        )


async def test_a_run_by_hand_is_claimed_computed_and_served(drift: Plane) -> None:
    control_plane, clock = drift
    model, version = await monitored_version(control_plane)
    worker = Worker(control_plane.service)
    await worker.nothing_due()

    started = await control_plane.client.post(_runs(model, version), json={"since": "1h"})
    assert started.status_code == 202, started.text
    report = started.json()
    assert report["status"] == "pending" and report["trigger"] == "manual"
    assert (report["window_start"], report["window_end"]) == (z(clock.now - timedelta(hours=1)), z(clock.now))
    assert report["summary"] is None and report["features"] is None and report["html_url"] is None
    html_url = f"/api/v1/drift-reports/{report['id']}/html"
    await _refused(await control_plane.client.get(html_url), 404, "pending")

    job = await worker.job(lease_s=120)
    assert job == {
        "id": report["id"],
        "model": model,
        "version": version,
        "window_start": report["window_start"],
        "window_end": report["window_end"],
        "trigger": "manual",
        "thresholds": {},
        "signature": job["signature"],
        "training_data": {
            "path": "data/train.csv",
            "package_key": f"models/{model}/{version}/package.tar.gz",
            "package_url": (control_plane.objects / f"models/{model}/{version}/package.tar.gz").as_uri(),
            "artifact_endpoint": f"/api/v1/models/{model}/versions/{version}/artifact",
        },
        "worker": worker.name,
        "attempts": 1,
        "claimed_at": z(clock.now),
        "lease_expires_at": z(clock.now + timedelta(seconds=120)),
    }
    assert [field["name"] for field in job["signature"]["inputs"]] == ["x"]
    artifact = await control_plane.service.get(job["training_data"]["artifact_endpoint"])
    assert artifact.status_code == 200 and b"data/train.csv" in gzip.decompress(artifact.content)
    await worker.nothing_due()  # the only report is held by this worker
    running = (await control_plane.client.get(f"/api/v1/drift-reports/{report['id']}")).json()
    assert running["status"] == "running" and running["worker"] == worker.name
    await _refused(await control_plane.client.get(html_url), 404, "running")

    clock.advance(seconds=7)
    features = [{"name": "x", "method": "ks", "score": 0.41, "p_value": 0.003, "drifted": True}]
    summary = {"dataset_drift": True, "share_drifted": 1.0, "drifted_features": ["x"], "rows": 120}
    page = "<!doctype html><meta charset=utf-8><title>x drifted</title><h1>x drifted · ü</h1>"
    done = await worker.complete(report["id"], summary=summary, features=features, html=page)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "done" and done.json()["finished_at"] == z(clock.now)

    shown = (await control_plane.client.get(f"/api/v1/drift-reports/{report['id']}")).json()
    assert shown["summary"] == summary and shown["features"] == features
    assert shown["html_url"] == html_url and shown["error"] is None
    served = await control_plane.client.get(html_url)
    assert served.status_code == 200
    assert served.headers["content-type"] == "text/html; charset=utf-8"
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.text == page
    stored = control_plane.objects / "reports" / model / str(version) / f"{report['id']}.html"
    assert stored.read_text(encoding="utf-8") == page

    listed = await reports(control_plane, model, version)
    assert [r["id"] for r in listed] == [report["id"]] and "features" not in listed[0]
    assert listed[0]["summary"] == summary


async def test_runs_by_hand_take_an_explicit_window_and_list_newest_first(drift: Plane) -> None:
    control_plane, clock = drift
    model, version = await monitored_version(control_plane)
    await put_schedule(control_plane, model, version, cron="@daily", window="1d", thresholds={"psi": 0.3})

    first = await control_plane.client.post(
        _runs(model, version), json={"start": "2026-11-23T08:00:00+01:00", "end": "2026-11-23T09:30:00Z"}
    )
    assert first.status_code == 202, first.text
    assert (first.json()["window_start"], first.json()["window_end"]) == (z(at("7:00")), z(at("9:30")))
    assert first.json()["thresholds"] == {"psi": 0.3}  # the schedule's
    clock.advance(seconds=1)
    second = await control_plane.client.post(
        _runs(model, version), json={"since": "30m", "thresholds": {"wasserstein": 0.2, "min_rows": 10}}
    )
    assert second.json()["thresholds"] == {"wasserstein": 0.2, "min_rows": 10}
    clock.advance(seconds=1)
    third = await control_plane.client.post(
        _runs(model, version), json={"start": "2026-11-23T07:00:00Z", "end": "2026-11-23T09:30:00Z"}
    )
    assert third.status_code == 202  # the same window again, by hand, is a new report

    listed = await reports(control_plane, model, version)
    assert [r["id"] for r in listed] == [third.json()["id"], second.json()["id"], first.json()["id"]]
    limited = await control_plane.client.get(_runs(model, version), params={"limit": 1, "status": "pending"})
    assert [r["id"] for r in limited.json()["drift_reports"]] == [third.json()["id"]]
    done = await control_plane.client.get(_runs(model, version), params={"status": "done"})
    assert done.json()["drift_reports"] == []
    await _refused(await control_plane.client.get(_runs(model, version), params={"limit": 0}), 400, "limit")
    for odd in (
        "²",
        "1" * 5000,
        "-1",
        "501",
    ):  # '²' is a digit to isdigit, not to int(): 500s, as was 5000 ones
        await _refused(
            await control_plane.client.get(_runs(model, version), params={"limit": odd}), 400, "limit"
        )
    await _refused(
        await control_plane.client.get(_runs(model, version), params={"status": "odd"}), 400, "status"
    )

    bad: list[tuple[dict[str, Any], str]] = [
        ({}, "since"),
        ({"since": "an hour"}, "since"),
        ({"since": "1h", "start": "2026-11-23T07:00:00Z"}, "not both"),
        ({"start": "2026-11-23T07:00:00Z"}, "'end' is missing"),
        ({"start": "2026-11-23T07:00:00", "end": "2026-11-23T08:00:00Z"}, "start"),
        ({"start": "2026-11-23T08:00:00Z", "end": "2026-11-23T07:00:00Z"}, "before end"),
        ({"start": "2026-11-23T08:00:00Z", "end": "2026-11-23T12:00:00Z"}, "in the future"),
        ({"start": "yesterday", "end": "2026-11-23T08:00:00Z"}, "start"),
        # fuzz: year 0 once in UTC, an OverflowError that was a 500
        ({"start": "0001-01-01T00:00:00+01:00", "end": "2026-11-23T08:00:00Z"}, "out of range"),
        ({"since": "1h", "thresholds": {"chi2_pvalue": 0}}, "thresholds.chi2_pvalue"),
        ({"since": "1h", "window": "1h"}, "window"),
    ]
    for body, field in bad:
        await _refused(await control_plane.client.post(_runs(model, version), json=body), 400, field)
    await _refused(await control_plane.client.get(_runs("no-such-model", 1)), 404, "no-such-model")
    await _refused(await control_plane.client.get("/api/v1/drift-reports/nope"), 404, "nope")
    await _refused(await control_plane.client.get("/api/v1/drift-reports/nope/html"), 404, "nope")


async def test_a_worker_that_lost_its_lease_cannot_store_its_result(drift: Plane) -> None:
    control_plane, clock = drift
    model, version = await monitored_version(control_plane)
    report = (await control_plane.client.post(_runs(model, version), json={"since": "1h"})).json()
    slow, fast = Worker(control_plane.service), Worker(control_plane.service)

    assert (await slow.job(lease_s=60))["id"] == report["id"]
    clock.advance(seconds=59)
    await fast.nothing_due()  # the lease still holds
    clock.advance(seconds=2)
    taken = await fast.job(lease_s=60)
    assert taken["id"] == report["id"] and taken["attempts"] == 2 and taken["worker"] == fast.name

    await _refused(await slow.complete(report["id"]), 409, fast.name, "not stored")
    await _refused(await slow.fail(report["id"], "too slow"), 409, fast.name)
    await _refused(await slow.heartbeat(report["id"], 60), 409, fast.name)
    assert (await fast.complete(report["id"], html="<p>fast</p>")).status_code == 200
    await _refused(await slow.complete(report["id"], html="<p>slow</p>"), 409, "already done")
    assert (
        await control_plane.client.get(f"/api/v1/drift-reports/{report['id']}/html")
    ).text == "<p>fast</p>"

    # A worker whose lease ran out, with nobody else having taken the job, may still finish it.
    late = (await control_plane.client.post(_runs(model, version), json={"since": "1h"})).json()
    assert (await slow.job(lease_s=10))["id"] == late["id"]
    clock.advance(seconds=30)
    assert (await slow.complete(late["id"])).status_code == 200

    await _refused(await fast.complete("no-such-report"), 404, "no-such-report")
    pending = (await control_plane.client.post(_runs(model, version), json={"since": "1h"})).json()
    await _refused(await fast.complete(pending["id"]), 409, "pending")


async def test_a_failed_report_says_why_and_bad_results_are_refused(drift: Plane) -> None:
    control_plane, _ = drift
    model, version = await monitored_version(control_plane)
    report = (await control_plane.client.post(_runs(model, version), json={"since": "1h"})).json()
    worker = Worker(control_plane.service)
    await worker.job()

    claim_url = "/api/v1/internal/drift-jobs/claim"
    for body, field in [
        ({}, "worker"),
        ({"worker": ""}, "worker"),
        ({"worker": "w", "lease_s": 0}, "lease_s"),
    ]:
        await _refused(await control_plane.service.post(claim_url, json=body), 400, field)
    for overrides, field in [
        ({"summary": [1, 2]}, "summary"),
        ({"features": "x"}, "features"),
        ({"html": ""}, "html"),
        ({"worker": None}, "worker"),
    ]:
        await _refused(await worker.complete(report["id"], **overrides), 400, field)
    not_json = f'{{"worker": "{worker.name}", "summary": {{"score": NaN}}, "features": [], "html": "<p>"}}'
    await _refused(
        await control_plane.service.post(
            f"/api/v1/internal/drift-jobs/{report['id']}/complete",
            content=not_json,
            headers={"content-type": "application/json"},
        ),
        400,
        "NaN",
    )
    incomplete = {"worker": worker.name, "summary": {}, "features": []}
    await _refused(
        await control_plane.service.post(
            f"/api/v1/internal/drift-jobs/{report['id']}/complete", json=incomplete
        ),
        400,
        "html",
    )

    failed = await worker.fail(report["id"], "no traffic in the window: samples/ has no partitions")
    assert failed.status_code == 200, failed.text
    assert failed.json()["status"] == "failed" and failed.json()["html_url"] is None
    await _refused(
        await control_plane.client.get(f"/api/v1/drift-reports/{report['id']}/html"),
        404,
        "failed",
        "no traffic",
    )
    await _refused(await worker.complete(report["id"]), 409, "already failed")
    await worker.nothing_due()


async def test_a_job_whose_lease_keeps_expiring_fails_after_three_attempts(drift: Plane) -> None:
    control_plane, clock = drift
    model, version = await monitored_version(control_plane)
    report = (await control_plane.client.post(_runs(model, version), json={"since": "1h"})).json()
    crashing = [Worker(control_plane.service) for _ in range(3)]
    for attempt, worker in enumerate(crashing, start=1):
        job = await worker.job(lease_s=30)
        assert (job["id"], job["attempts"]) == (report["id"], attempt)
        clock.advance(seconds=31)

    await Worker(control_plane.service).nothing_due()
    shown = (await control_plane.client.get(f"/api/v1/drift-reports/{report['id']}")).json()
    assert shown["status"] == "failed" and shown["finished_at"] == z(clock.now)
    assert "expired 3 times" in shown["error"] and crashing[-1].name in shown["error"]


async def test_a_heartbeat_keeps_the_job(drift: Plane) -> None:
    control_plane, clock = drift
    model, version = await monitored_version(control_plane)
    report = (await control_plane.client.post(_runs(model, version), json={"since": "1h"})).json()
    worker, other = Worker(control_plane.service), Worker(control_plane.service)
    await worker.job(lease_s=30)
    for _ in range(4):
        clock.advance(seconds=20)
        beat = await worker.heartbeat(report["id"], 30)
        assert beat.status_code == 200 and beat.json()["lease_expires_at"] == z(
            clock.now + timedelta(seconds=30)
        )
        await other.nothing_due()
    clock.advance(seconds=31)
    assert (await other.job())["id"] == report["id"]


async def test_a_workers_result_has_its_own_larger_size_limit(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/hydro.db", max_json_body_bytes=4096)
    async with running(settings, clock=ManualClock()) as control_plane:
        model, version = await monitored_version(control_plane)
        report = (await control_plane.client.post(_runs(model, version), json={"since": "1h"})).json()
        worker = Worker(control_plane.service)
        await worker.job()
        await _refused(await worker.fail(report["id"], "x" * 5000), 413, "limit of 4096 bytes")
        page = "<!doctype html><p>" + "drift " * 2000  # 12 kB: over the JSON limit, far under a result's
        done = await worker.complete(report["id"], html=page)
        assert done.status_code == 200, done.text
        assert (await control_plane.client.get(f"/api/v1/drift-reports/{report['id']}/html")).text == page


def test_a_window_back_from_now_ends_at_now_not_at_the_last_whole_second() -> None:
    """Records carry millisecond times: a `since` window that ended at the last whole second would leave
    out what was sampled in the fraction of a second before the report was asked for."""
    now = datetime(2026, 12, 3, 12, 0, 5, 300_400, tzinfo=UTC)
    start, end = RunSpec(since="1m").window(now)
    assert end == datetime(2026, 12, 3, 12, 0, 5, 301_000, tzinfo=UTC) and end >= now
    assert end - start == timedelta(minutes=1)
    exact = datetime(2026, 12, 3, 12, 0, 5, 300_000, tzinfo=UTC)
    assert RunSpec(since="1m").window(exact)[1] == exact
