"""Scheduled drift reports: each window of a schedule runs exactly once, however many Sonar workers and
control plane processes ask for work, across restarts; windows missed while nobody asked are caught up
oldest first, up to the schedule's bound.

Every test runs on PostgreSQL and on SQLite, each in a database of its own, with a clock the test moves.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.control_plane.conftest import ControlPlane
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


@pytest.fixture(params=database_kinds())
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async with own_database(request.param, tmp_path) as url:
        yield url


def _windows(listed: list[dict[str, object]]) -> list[tuple[object, object]]:
    """(start, end) of scheduled reports, oldest first."""
    scheduled = [r for r in listed if r["trigger"] == "schedule"]
    return sorted((r["window_start"], r["window_end"]) for r in scheduled)


async def test_a_cron_of_every_minute_runs_each_window_once_across_a_restart(
    database: str, tmp_path: Path
) -> None:
    clock = ManualClock(at("10:00:30"))
    async with plane(tmp_path / "first", database, clock) as control_plane:
        model, version = await monitored_version(control_plane)
        schedule = await put_schedule(control_plane, model, version, cron="* * * * *", window="1m")
        assert schedule["next_run_at"] == z(at("10:01"))
        worker = Worker(control_plane.service)
        await worker.nothing_due()

        for minute in range(1, 6):
            clock.set(at(f"10:0{minute}:00"))
            job = await worker.job()
            assert (job["window_start"], job["window_end"]) == (
                z(at(f"10:0{minute - 1}")),
                z(at(f"10:0{minute}")),
            )
            assert job["trigger"] == "schedule"
            await worker.nothing_due()  # asked again within the same minute: nothing new
            clock.advance(seconds=40)
            await worker.nothing_due()
            assert (await worker.complete(job["id"])).status_code == 200

        windows = _windows(await reports(control_plane, model, version))
        assert windows == [(z(at(f"10:0{m - 1}")), z(at(f"10:0{m}"))) for m in range(1, 6)]

    # A restart (a new process on the same database) neither repeats a window nor loses the next one.
    async with plane(tmp_path / "second", database, clock) as control_plane:
        worker = Worker(control_plane.service)
        await worker.nothing_due()
        clock.set(at("10:06:05"))
        job = await worker.job()
        assert (job["window_start"], job["window_end"]) == (z(at("10:05")), z(at("10:06")))
        await worker.nothing_due()
        windows = _windows(await reports(control_plane, model, version))
        assert len(windows) == len(set(windows)) == 6


async def test_windows_missed_while_nobody_asked_are_caught_up_oldest_first_up_to_the_bound(
    database: str, tmp_path: Path
) -> None:
    clock = ManualClock(at("10:00:30"))
    async with plane(tmp_path, database, clock) as control_plane:
        model, version = await monitored_version(control_plane)
        await put_schedule(control_plane, model, version, cron="*/10 * * * *", window="10m", max_catch_up=3)
        worker = Worker(control_plane.service)

        # Sonar was down from 10:00:30 until 11:05: six windows ended (at 10:10 ... 11:00).
        clock.set(at("11:05"))
        caught_up = [await worker.job() for _ in range(3)]
        await worker.nothing_due()
        assert [(job["window_start"], job["window_end"]) for job in caught_up] == [
            (z(at("10:30")), z(at("10:40"))),
            (z(at("10:40")), z(at("10:50"))),
            (z(at("10:50")), z(at("11:00"))),
        ]
        assert len(_windows(await reports(control_plane, model, version))) == 3  # the older three are skipped
        for job in caught_up:
            assert (await worker.complete(job["id"])).status_code == 200

        # Back to normal: the next window comes when it ends, once.
        clock.set(at("11:10"))
        job = await worker.job()
        assert (job["window_start"], job["window_end"]) == (z(at("11:00")), z(at("11:10")))
        await worker.nothing_due()
        assert (await worker.complete(job["id"])).status_code == 200

        # Below the bound, every missed window is caught up.
        clock.set(at("11:31"))
        jobs = [await worker.job() for _ in range(2)]
        await worker.nothing_due()
        assert [job["window_end"] for job in jobs] == [z(at("11:20")), z(at("11:30"))]

        # Nothing is dropped silently: /metrics counts what was created and what the bound skipped.
        metrics = (await control_plane.client.get("/metrics")).text
        assert 'hydro_control_plane_drift_windows_total{outcome="created"} 6.0' in metrics
        assert 'hydro_control_plane_drift_windows_total{outcome="skipped"} 3.0' in metrics


async def test_a_schedule_turned_off_makes_no_reports_and_on_again_does_not_catch_up_the_pause(
    database: str, tmp_path: Path
) -> None:
    clock = ManualClock(at("10:00:30"))
    async with plane(tmp_path, database, clock) as control_plane:
        model, version = await monitored_version(control_plane)
        spec = {"cron": "0 * * * *", "window": "1h"}
        await put_schedule(control_plane, model, version, **spec)
        worker = Worker(control_plane.service)

        clock.set(at("10:30"))
        await put_schedule(control_plane, model, version, **spec, enabled=False)
        clock.set(at("13:30"))
        await worker.nothing_due()

        again = await put_schedule(control_plane, model, version, **spec)
        assert again["next_run_at"] == z(at("14:00"))
        await worker.nothing_due()
        clock.set(at("14:00"))
        job = await worker.job()
        assert (job["window_start"], job["window_end"]) == (z(at("13:00")), z(at("14:00")))
        await worker.nothing_due()
        assert (await worker.complete(job["id"])).status_code == 200
        assert len(_windows(await reports(control_plane, model, version))) == 1

        # Changing the window length keeps the schedule's place; the next window takes the new length.
        await put_schedule(control_plane, model, version, cron="0 * * * *", window="2h")
        clock.set(at("15:00"))
        job = await worker.job()
        assert (job["window_start"], job["window_end"]) == (z(at("13:00")), z(at("15:00")))


async def _drain(planes: list[ControlPlane], worker: str) -> list[str]:
    """Claim through random control planes until nothing is due; the ids this worker got."""
    got: list[str] = []
    while True:
        response = await random.choice(planes).service.post(
            "/api/v1/internal/drift-jobs/claim", json={"worker": worker, "lease_s": 600}
        )
        if response.status_code == 204:
            return got
        assert response.status_code == 200, response.text
        got.append(response.json()["id"])


async def test_concurrent_claimers_on_two_control_planes_never_share_a_report(
    database: str, tmp_path: Path
) -> None:
    clock = ManualClock(at("10:00:30"))
    async with (
        plane(tmp_path / "a", database, clock) as first,
        plane(tmp_path / "b", database, clock) as second,
    ):
        versions = [await monitored_version(first) for _ in range(3)]
        for model, version in versions:
            await put_schedule(first, model, version, cron="* * * * *", window="1m", max_catch_up=20)
        manual = []
        for model, version in versions:
            for _ in range(5):
                response = await second.client.post(
                    f"/api/v1/models/{model}/versions/{version}/drift-reports", json={"since": "1h"}
                )
                assert response.status_code == 202, response.text
                manual.append(response.json()["id"])

        # 15 minutes pass: each of the three schedules owes 15 windows. Eight workers ask at once, through
        # both control planes, so both create the scheduled windows concurrently too.
        clock.set(at("10:15:10"))
        workers = [f"sonar-{n}" for n in range(8)]
        claimed = await asyncio.gather(*(_drain([first, second], worker) for worker in workers))

        everything = [report_id for got in claimed for report_id in got]
        assert not [rid for rid, count in Counter(everything).items() if count > 1], (
            "a report was claimed twice"
        )
        for model, version in versions:
            listed = await reports(first, model, version)
            windows = _windows(listed)
            assert windows == [(z(at(f"10:{m - 1:02d}")), z(at(f"10:{m:02d}"))) for m in range(1, 16)]
            assert all(r["status"] == "running" for r in listed)
        assert set(manual) <= set(everything)
        assert len(everything) == 3 * 15 + len(manual)
        assert sum(1 for got in claimed if got) > 1, "the work was not shared between the workers at all"
