"""A build backend whose builds take time, for the builder's own stories (queue, timeout, restart, follow).

Stands in for the backend only: the process runtime builds nothing (no time passes) and a real docker build
takes minutes on this machine's two cores, so these stories put a build of known length under the real
builder, catalog, control plane and API. What a docker build does on a timeout is shown, with Docker, in
`test_docker_timeout.py`. The log records when each build started and ended (wall clock), and a line every
`tick` seconds, so a test can measure overlap and see a log grow.

`python -m tests.control_plane.builds.sleeping` runs a control plane (configured by HYDRO_* like
`python -m control_plane`) whose builds take HYDRO_TEST_BUILD_SECONDS.
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest

import control_plane.__main__
import control_plane.state
from control_plane.builds.base import BuildLog, Image
from control_plane.versions import VersionRef

START = "sleeping build started at "
END = "sleeping build ended at "


class SleepingBuild:
    runtime = "process"

    def __init__(self, seconds: float, tick: float = 0.2) -> None:
        self.seconds = seconds
        self.tick = tick

    async def build(self, ref: VersionRef, log: BuildLog) -> Image | None:
        log.write(f"{START}{time.time():.6f}")
        deadline = time.monotonic() + self.seconds
        step = 0
        while time.monotonic() < deadline:
            await asyncio.sleep(min(self.tick, max(0.0, deadline - time.monotonic())))
            step += 1
            log.write(f"tick {step}")
        log.write(f"{END}{time.time():.6f}")
        return None

    async def settle(self) -> None:
        return None


def use_sleeping_builds(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Control planes started from now on build with a SleepingBuild of `seconds`."""
    monkeypatch.setattr(control_plane.state, "make_build_backend", lambda *_: SleepingBuild(seconds))


def span(log: str) -> tuple[float, float]:
    """When the (last) sleeping build in `log` started and ended."""
    lines = log.splitlines()
    start = [float(line.removeprefix(START)) for line in lines if line.startswith(START)]
    end = [float(line.removeprefix(END)) for line in lines if line.startswith(END)]
    assert start and end, log
    return start[-1], end[-1]


def main() -> None:
    seconds = float(os.environ["HYDRO_TEST_BUILD_SECONDS"])
    control_plane.state.make_build_backend = lambda *_: SleepingBuild(seconds)  # type: ignore[assignment]
    control_plane.__main__.main()


if __name__ == "__main__":
    main()
