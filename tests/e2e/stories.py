"""Steps shared by the stories on both runtimes."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e.platform import ADMIN_TOKEN, EXAMPLES, REPO_ROOT, Platform, platform_env
from tests.ports import free_port


def copy_example(example: str, dest: Path) -> tuple[Path, str]:
    """Copy an example under a unique model name, so runs never share images or containers."""
    name = f"{example}-{uuid.uuid4().hex[:6]}"
    folder = dest / name
    shutil.copytree(EXAMPLES / example, folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest_path = folder / "hydro.yaml"
    manifest: dict[str, Any] = yaml.safe_load(manifest_path.read_text())
    manifest["name"] = name
    manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder, name


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    """Wait until `condition()` holds; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")


@contextmanager
def platform_with_sonar(home: Path, **overrides: str) -> Iterator[Platform]:
    """The embedded platform (process runtime) plus a Sonar process, the router sampling every request to
    it; `overrides` are more HYDRO_* variables for all of them (e.g. Sonar's flush age)."""
    sonar_port, sonar_metrics = free_port(), free_port()
    env = platform_env(
        home,
        HYDRO_RUNTIME="process",
        HYDRO_SONAR_ADDRESS=f"127.0.0.1:{sonar_port}",
        HYDRO_SONAR_PORT=str(sonar_port),
        HYDRO_SONAR_METRICS_PORT=str(sonar_metrics),
        HYDRO_DRIFT_POLL_INTERVAL_S="0.3",
        HYDRO_TOKEN=ADMIN_TOKEN,
        **overrides,
    )
    platform = Platform(home=home, env=env)
    try:
        platform.start()
        with open(home / "sonar.log", "wb") as log:  # the child keeps its own copy of the descriptor
            platform.processes["sonar"] = subprocess.Popen(
                [sys.executable, "-m", "sonar"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT
            )

        def healthy() -> bool:
            platform.assert_running("sonar")
            try:
                return httpx.get(f"http://127.0.0.1:{sonar_metrics}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, 90, "sonar answers /health")
        yield platform
    finally:
        platform.stop()


def write_model(
    dest: Path, name: str, source: str, entrypoint: str, signature: dict[str, Any], **fields: Any
) -> Path:
    """A model folder written by the test: `source` as the module `entrypoint` names, and its hydro.yaml."""
    folder = dest / f"{name}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    module = entrypoint.split(":")[0]
    (folder / f"{module}.py").write_text(textwrap.dedent(source).lstrip())
    manifest = {"name": name, "runtime": "python3.11", "entrypoint": entrypoint, "signature": signature}
    (folder / "hydro.yaml").write_text(yaml.safe_dump({**manifest, **fields}, sort_keys=False))
    return folder


def upload(platform: Platform, folder: Path) -> str:
    """`hydro deploy FOLDER --no-wait`: the key (`model:N`) of the version it uploaded."""
    result = platform.hydro("deploy", str(folder), "--no-wait")
    assert result.returncode == 0, result.stderr + result.stdout
    found = re.search(r"uploaded (\S+:\d+)", result.stdout)
    assert found, result.stdout
    return found.group(1)


def wait_released(platform: Platform, *keys: str, timeout: float = 300) -> None:
    """Wait until every version `model:N` is released; fail with its build log if one fails."""

    def status(key: str) -> str:
        model, number = key.split(":")
        body = httpx.get(
            f"{platform.api}/models/{model}/versions/{number}", timeout=10, headers=platform.headers()
        ).json()
        if body["status"] == "failed":
            log = httpx.get(
                f"{platform.api}/models/{model}/versions/{number}/logs",
                timeout=10,
                headers=platform.headers(),
            ).text
            raise AssertionError(f"the build of {key} failed: {body.get('error')}\n{log[-3000:]}")
        return str(body["status"])

    wait_until(lambda: all(status(key) == "released" for key in keys), timeout, f"{keys} are released", 0.5)


def put_application(platform: Platform, app: str, stages: list[list[tuple[str, int, str]]]) -> dict[str, Any]:
    """`PUT /api/v1/applications/{app}`: each stage a list of (`model:N`, weight, deployment config)."""
    body = {
        "stages": [
            {
                "variants": [
                    {
                        "model": key.split(":")[0],
                        "version": int(key.split(":")[1]),
                        "weight": weight,
                        "deployment_config": config,
                    }
                    for key, weight, config in stage
                ]
            }
            for stage in stages
        ]
    }
    response = httpx.put(
        f"{platform.api}/applications/{app}", json=body, headers=platform.headers(), timeout=30
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def delete_application(platform: Platform, app: str) -> None:
    """`DELETE /api/v1/applications/{app}`: its versions leave the catalog and the scaler retires them."""
    response = httpx.delete(f"{platform.api}/applications/{app}", headers=platform.headers(), timeout=30)
    assert response.status_code in (200, 204), response.text


def wait_routed(platform: Platform, app: str, timeout: float = 30) -> None:
    """Wait until the router knows `app`: a PUT answers before the catalog watch brings it the change."""

    def routed() -> bool:
        return httpx.get(f"{platform.router}/v2/models/{app}/ready", timeout=10).status_code == 200

    wait_until(routed, timeout, f"the router routes {app!r}", interval=0.05)
