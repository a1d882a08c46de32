from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.runtime.harness import RuntimeProcess

StartRuntime = Callable[..., RuntimeProcess]


@pytest.fixture
def start_runtime(tmp_path: Path) -> Iterator[StartRuntime]:
    """Start `python -m runtime` processes for a test; every one is stopped by PID afterwards."""
    started: list[RuntimeProcess] = []

    def start(model_dir: Path, *extra_args: str, port: int | None = None) -> RuntimeProcess:
        log = tmp_path / f"runtime-{len(started)}.log"
        runtime = RuntimeProcess(model_dir, log, *extra_args, port=port)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.close()
