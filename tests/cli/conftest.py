"""The real control plane for CLI tests: started in this process (its own thread and event loop) on
SQLite and the local object store under a temporary HYDRO_HOME, with the process runtime (no image
builds), on free loopback ports. The CLI runs in-process through click's CliRunner, as a user's shell
would run it, with only the HYDRO_* variables a test gives it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from pydantic import SecretStr

from hydro.cli import cli
from tests.ports import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ADMIN_TOKEN = "cli-test-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
"""What a test's own API calls carry (every /api/v1 call but the health check needs a token)."""
SERVICE_TOKEN = "cli-test-service-token"
"""The service credential of the test control plane (what a Sonar worker presents)."""


@dataclass
class ControlPlane:
    url: str
    home: Path
    router_url: str

    def env(self, **overrides: str) -> dict[str, str]:
        """What a user's shell would export to talk to this control plane."""
        env = {
            "HYDRO_HOME": str(self.home),
            "HYDRO_CONTROL_PLANE_URL": self.url,
            "HYDRO_ROUTER_URL": self.router_url,
            "HYDRO_TOKEN": ADMIN_TOKEN,
        }
        env.update(overrides)
        return env


@pytest.fixture(autouse=True)
def no_hydro_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own HYDRO_* variables must not leak into a test."""
    for name in list(os.environ):
        if name.startswith("HYDRO_"):
            monkeypatch.delenv(name)


@contextlib.contextmanager
def serving(home: Path, **overrides: Any) -> Iterator[ControlPlane]:
    """Run a control plane under `home` (its own thread and event loop) until the block exits; `overrides`
    are Settings fields a suite needs besides the defaults (Kafka brokers, say)."""
    from control_plane.server import serve
    from control_plane.settings import Settings

    port = free_port()
    router_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: invokes get "cannot reach"
    values: dict[str, Any] = {
        "home": home,
        "bind_host": "127.0.0.1",
        "control_plane_port": port,
        "catalog_port": free_port(),
        "scaler_address": f"127.0.0.1:{free_port()}",
        "sonar_address": f"127.0.0.1:{free_port()}",  # nothing listens: samples get 503
        "router_url": router_url,
        "admin_token": SecretStr(ADMIN_TOKEN),
        "service_token": SecretStr(SERVICE_TOKEN),
        "runtime": "process",
        "database_url": f"sqlite+aiosqlite:///{home}/hydro.db",
        "object_store_url": f"file://{home}/objects",
    }
    settings = Settings(**(values | overrides))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    task: asyncio.Task[None] | None = None
    failure: list[BaseException] = []

    async def main() -> None:
        nonlocal task
        ready = asyncio.Event()
        task = asyncio.create_task(serve(settings, started=ready))
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        started.set()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(
        target=loop.run_until_complete, args=(main(),), name="control plane", daemon=True
    )
    thread.start()
    assert started.wait(30), "the control plane did not start within 30 s"
    assert task is not None and not task.done(), f"the control plane stopped while starting: {failure}"
    try:
        yield ControlPlane(url=f"http://127.0.0.1:{port}", home=home, router_url=router_url)
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(30)
        loop.close()
    assert not failure, failure


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with serving(tmp_path_factory.mktemp("hydro-home"), kafka_bootstrap_servers="") as running:
        yield running


@pytest.fixture
def hydro(control_plane: ControlPlane) -> Any:
    """Run `hydro ARGS...` against the control plane; `env=` overrides variables."""

    def run(*args: str, env: dict[str, str] | None = None) -> Result:
        return CliRunner().invoke(cli, list(args), env=env or control_plane.env(), catch_exceptions=False)

    return run


def copy_example(example: str, dest: Path) -> tuple[Path, str]:
    """The example under a unique model name, so tests sharing a control plane never share versions."""
    name = f"{example}-{uuid.uuid4().hex[:6]}"
    folder = dest / name
    shutil.copytree(EXAMPLES / example, folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = yaml.safe_load((folder / "hydro.yaml").read_text())
    manifest["name"] = name
    (folder / "hydro.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder, name
