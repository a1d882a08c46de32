"""Builds that end: a time limit, a queue with a concurrency limit, builds resumed after a restart (at most
`build_max_attempts` times, never twice at once by two control planes), and a log that can be followed.

Real control planes on PostgreSQL and SQLite; the builds are SleepingBuilds (see `sleeping.py` for why).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from hydro.cli.main import cli
from tests.control_plane.builds.sleeping import END, START, span, use_sleeping_builds
from tests.control_plane.conftest import (
    ADMIN_TOKEN,
    SERVICE_TOKEN,
    ControlPlane,
    make_settings,
    running,
    unique,
)
from tests.control_plane.packages import package
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[3]


async def status_of(control_plane: ControlPlane, model: str, version: int) -> str:
    response = await control_plane.client.get(f"/api/v1/models/{model}/versions/{version}")
    assert response.status_code == 200, response.text
    status: str = response.json()["status"]
    return status


async def wait_status(control_plane: ControlPlane, model: str, version: int, wanted: str) -> None:
    deadline = time.monotonic() + 30
    while (status := await status_of(control_plane, model, version)) != wanted:
        assert time.monotonic() < deadline, f"{model}:{version} is {status}, not {wanted}"
        await asyncio.sleep(0.05)


async def log_of(control_plane: ControlPlane, model: str, version: int) -> str:
    response = await control_plane.client.get(f"/api/v1/models/{model}/versions/{version}/logs")
    assert response.status_code == 200, response.text
    return response.text


async def test_a_build_that_runs_past_the_time_limit_is_stopped_and_failed_with_the_reason(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sleeping_builds(monkeypatch, seconds=60)
    settings = make_settings(tmp_path, database_url, build_timeout_s=0.5)
    model = unique("slow")
    async with running(settings) as control_plane:
        started = time.monotonic()
        assert (await control_plane.upload(model, package(model))).status_code == 202
        failed = await control_plane.wait_built(model, 1, timeout=30)
        assert time.monotonic() - started < 10
        assert failed["status"] == "failed"
        assert failed["error"] == "the build ran past HYDRO_BUILD_TIMEOUT_S=0.5 s and was stopped"
        log = await log_of(control_plane, model, 1)
        assert "build failed: the build ran past HYDRO_BUILD_TIMEOUT_S=0.5 s" in log
        assert START in log and END not in log  # the build's work was stopped, not left running
        # A slot is free again: the next version builds.
        use_sleeping_builds(monkeypatch, seconds=0)
    async with running(settings) as control_plane:
        assert (await status_of(control_plane, model, 1)) == "failed"  # a failed build is not retried


async def test_five_uploads_at_once_build_at_most_the_configured_number_at_a_time(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sleeping_builds(monkeypatch, seconds=2.0)
    settings = make_settings(tmp_path, database_url, build_concurrency=2)
    model = unique("queued")
    async with running(settings) as control_plane:
        uploads = await asyncio.gather(*(control_plane.upload(model, package(model)) for _ in range(5)))
        assert [response.status_code for response in uploads] == [202] * 5
        # While the first two build, the last one waits and says how many versions are ahead of it.
        queued = await log_of(control_plane, model, 5)
        assert queued.startswith("queued: ") and queued.endswith(" ahead\n"), queued
        assert int(queued.split()[1]) >= 1
        built = [await control_plane.wait_built(model, version, timeout=60) for version in range(1, 6)]
        assert [version["status"] for version in built] == ["released"] * 5
        spans = [span(await log_of(control_plane, model, version)) for version in range(1, 6)]
    # The most builds running at any moment, from their recorded start and end times.
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    running_now = most = 0
    for _, change in events:
        running_now += change
        most = max(most, running_now)
    assert most == 2, spans


async def test_a_shutdown_hands_its_builds_back_and_they_are_built_again_at_most_n_times(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sleeping_builds(monkeypatch, seconds=60)
    settings = make_settings(tmp_path, database_url, build_max_attempts=2)
    model = unique("interrupted")
    for attempt in (1, 2):
        async with running(settings) as control_plane:
            if attempt == 1:
                assert (await control_plane.upload(model, package(model))).status_code == 202
            await wait_status(control_plane, model, 1, "building")
            assert f"attempt {attempt} of 2" in await log_of(control_plane, model, 1)
        # shut down mid-build: the version goes back to the queue, not to failed
    async with running(settings) as control_plane:
        failed = await control_plane.wait_built(model, 1, timeout=30)
    assert failed["status"] == "failed"
    assert failed["error"] == (
        "the build was started 2 times and interrupted each time (HYDRO_BUILD_MAX_ATTEMPTS=2); "
        "upload the package again"
    )


@pytest.mark.postgres
async def test_two_control_planes_on_one_database_never_build_the_same_version(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sleeping_builds(monkeypatch, seconds=0.3)
    model = unique("shared")
    first = make_settings(tmp_path, postgres_url, build_concurrency=2)
    second = make_settings(tmp_path, postgres_url, build_concurrency=2)
    async with running(first) as one, running(second) as two:
        uploads = await asyncio.gather(
            *(plane.upload(model, package(model)) for plane in (one, two, one, two, one, two, one, two))
        )
        versions = sorted(response.json()["version"] for response in uploads)
        assert versions == list(range(1, 9))
        for version in versions:
            assert (await one.wait_built(model, version, timeout=60))["status"] == "released"
            log = await log_of(two, model, version)
            assert log.count(START) == 1 and "attempt 1 of 3" in log, log


def _environment(home: Path, database_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HYDRO_HOME": str(home),
        "HYDRO_DATABASE_URL": database_url,
        "HYDRO_OBJECT_STORE_URL": f"file://{home}/objects",
        "HYDRO_RUNTIME": "process",
        "HYDRO_BIND_HOST": "127.0.0.1",
        "HYDRO_CONTROL_PLANE_PORT": str(port),
        "HYDRO_CATALOG_PORT": str(free_port()),
        "HYDRO_SCALER_ADDRESS": f"127.0.0.1:{free_port()}",
        "HYDRO_ADMIN_TOKEN": ADMIN_TOKEN,
        "HYDRO_SERVICE_TOKEN": SERVICE_TOKEN,
        "HYDRO_BUILD_LEASE_S": "1",
        "HYDRO_TEST_BUILD_SECONDS": "3",
    }


async def _start(home: Path, database_url: str) -> tuple[subprocess.Popen[bytes], httpx.AsyncClient]:
    port = free_port()
    with (home / f"control-plane-{port}.log").open("wb") as stderr:  # the child keeps its own copy
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.control_plane.builds.sleeping"],
            env=_environment(home, database_url, port),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    client = httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, (home / f"control-plane-{port}.log").read_text()
        try:
            if (await client.get("/health")).status_code == 200:
                return process, client
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the control plane did not start within 60 s"
        await asyncio.sleep(0.1)


@pytest.mark.slow  # two control plane processes started one after the other: ~18 s
async def test_a_control_plane_killed_mid_build_builds_the_version_again_after_its_restart(
    tmp_path: Path, database_url: str
) -> None:
    model = unique("killed")
    process, client = await _start(tmp_path, database_url)
    try:
        response = await client.post(f"/api/v1/models/{model}/versions", content=package(model))
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 30
        while (await client.get(f"/api/v1/models/{model}/versions/1")).json()["status"] != "building":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # its lease was renewed with the log so far
    finally:
        process.send_signal(signal.SIGKILL)  # no shutdown: the version stays `building`, its lease expires
        process.wait(30)
        await client.aclose()

    process, client = await _start(tmp_path, database_url)
    try:
        deadline = time.monotonic() + 60
        while (version := (await client.get(f"/api/v1/models/{model}/versions/1")).json())["status"] not in (
            "released",
            "failed",
        ):
            assert time.monotonic() < deadline, version
            await asyncio.sleep(0.1)
        assert version["status"] == "released", version
        log = (await client.get(f"/api/v1/models/{model}/versions/1/logs")).text
        assert "attempt 1 of 3" in log and "attempt 2 of 3" in log, log
        assert log.count(START) == 2 and log.count(END) == 1, log
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        await client.aclose()


async def test_following_a_log_streams_its_lines_while_the_version_builds(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_sleeping_builds(monkeypatch, seconds=2.0)
    model = unique("followed")
    async with running(make_settings(tmp_path, database_url)) as control_plane:
        assert (await control_plane.upload(model, package(model))).status_code == 202
        received: list[tuple[str, str]] = []  # (chunk, the version's status when it arrived)
        async with control_plane.client.stream(
            "GET", f"/api/v1/models/{model}/versions/1/logs", params={"follow": "true"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            async for chunk in response.aiter_text():
                received.append((chunk, await status_of(control_plane, model, 1)))
        # Lines arrived while the version was still building, and the stream ended with the build.
        assert any("tick" in chunk for chunk, status in received if status == "building"), received
        streamed = "".join(chunk for chunk, _ in received)
        assert streamed.rstrip().endswith(f"released {model}:1")
        # The stream was the whole log, once (plus the queue line it may have started with).
        text = "".join(line for line in streamed.splitlines(keepends=True) if not line.startswith("queued: "))
        assert text == await log_of(control_plane, model, 1)

        # Once the build has ended, following answers the stored log at once.
        response = await control_plane.client.get(
            f"/api/v1/models/{model}/versions/1/logs", params={"follow": "true"}
        )
        assert response.text == text
        response = await control_plane.client.get(
            f"/api/v1/models/{model}/versions/1/logs", params={"follow": "yes"}
        )
        assert response.status_code == 400
        assert response.json()["error"] == "follow must be true or false, got 'yes'"

        # The CLI follows the next version's build to its end (run in a thread: the client blocks).
        assert (await control_plane.upload(model, package(model))).status_code == 202
        env = {"HYDRO_CONTROL_PLANE_URL": control_plane.url, "HYDRO_TOKEN": ADMIN_TOKEN}
        result = await asyncio.to_thread(
            CliRunner().invoke, cli, ["logs", f"{model}:2", "--follow"], env=env, catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        assert "tick 5" in result.output and result.output.rstrip().endswith(f"released {model}:2")
        missing = await asyncio.to_thread(
            CliRunner().invoke, cli, ["logs", f"{model}:9", "--follow"], env=env, catch_exceptions=False
        )
        assert missing.exit_code == 1
        assert missing.stderr == f"error: model {model!r} has no version 9\n"
