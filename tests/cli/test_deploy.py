"""The `hydro` CLI against a real control plane: what a user sees, and the exit codes scripts rely on.

0 success; 1 refused or failed, with one `error: ...` line on stderr; 2 wrong usage.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.cli.conftest import ADMIN_HEADERS, ADMIN_TOKEN, ControlPlane, copy_example
from tests.ports import free_port


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f} s waiting until {what}"
        time.sleep(0.1)


def error_line(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    line: str = lines[0]
    return line


def test_deploy_builds_the_version_points_the_application_and_prints_how_to_call_it(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)

    deployed = hydro("deploy", str(folder), "--app", f"{model}-app")

    assert deployed.exit_code == 0, deployed.output
    out = deployed.stdout
    assert f"uploaded {model}:1 (pending)" in out
    assert f"{model}:1 released" in out
    assert "HYDRO_RUNTIME=process" in out  # a line of the build log, streamed
    # No router runs here: the deploy says so at once instead of promising a working invoke URL.
    assert (
        f"{model}-app is not routable yet: no router is connected to this control plane's catalog watch"
        in " ".join(out.split())
    )
    assert f"{control_plane.router_url}/apps/{model}-app" in out
    assert f"{control_plane.router_url}/v2/models/{model}-app/infer" in out
    curl = next(line.strip() for line in out.splitlines() if line.strip().startswith("curl "))
    words = shlex.split(curl)
    assert words[words.index("-X") + 1] == "POST"
    assert words[words.index("-H") + 1] == "Content-Type: application/json"
    assert json.loads(words[words.index("-d") + 1]) == {"amount": [1.0], "country": ["text"]}
    assert f"{control_plane.router_url}/apps/{model}-app" in words

    app = httpx.get(f"{control_plane.url}/api/v1/applications/{model}-app", headers=ADMIN_HEADERS).json()
    variant = app["stages"][0]["variants"][0]
    assert (variant["model"], variant["version"], variant["weight"]) == (model, 1, 100)


def test_a_second_deploy_makes_version_two_and_moves_the_application(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)
    assert hydro("deploy", str(folder), "--app", model).exit_code == 0
    again = hydro("deploy", str(folder), "--app", model, "--deployment-config", "default")
    assert again.exit_code == 0, again.output
    assert f"{model}:2 released" in again.stdout

    apps = hydro("apps")
    assert apps.exit_code == 0, apps.output
    row = next(line.split() for line in apps.stdout.splitlines() if line.split()[:1] == [model])
    # APP STAGE VARIANT WEIGHT CONFIG REPLICAS LAG INVOKE-URL; no scaler runs here, so replicas are
    # unknown; no Kafka endpoint, so no lag
    assert row == [
        model,
        "0",
        f"{model}:2",
        "100",
        "default",
        "?",
        "-",
        f"{control_plane.router_url}/apps/{model}",
    ]

    models = hydro("models")
    assert models.exit_code == 0, models.output
    assert [model, "2", "2", "released"] in [line.split() for line in models.stdout.splitlines()]

    versions = hydro("models", model)
    assert versions.exit_code == 0, versions.output
    keys = [line.split()[:2] for line in versions.stdout.splitlines()[1:]]
    assert keys == [[f"{model}:1", "released"], [f"{model}:2", "released"]]


def test_logs_prints_the_build_log_of_a_version(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    folder, model = copy_example("iris-classifier", tmp_path)
    assert hydro("deploy", str(folder), "--no-wait").exit_code == 0
    version = f"{control_plane.url}/api/v1/models/{model}/versions/1"
    wait_until(
        lambda: httpx.get(version, headers=ADMIN_HEADERS).json()["status"] == "released",
        30,
        f"{model}:1 is released",
    )

    logs = hydro("logs", f"{model}:1")
    assert logs.exit_code == 0, logs.output
    assert f"released {model}:1" in logs.stdout

    missing = hydro("logs", f"{model}:9")
    assert missing.exit_code == 1
    assert f"{model}" in error_line(missing) and "9" in error_line(missing)


def test_no_wait_uploads_and_returns_before_the_build(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)
    result = hydro("deploy", str(folder), "--no-wait")
    assert result.exit_code == 0, result.output
    assert f"uploaded {model}:1" in result.stdout
    assert f"hydro logs {model}:1" in result.stdout
    assert (
        httpx.get(f"{control_plane.url}/api/v1/models/{model}/versions/1", headers=ADMIN_HEADERS).status_code
        == 200
    )


def test_a_folder_without_hydro_yaml_fails_with_one_line_naming_the_file(hydro: Any, tmp_path: Path) -> None:
    result = hydro("deploy", str(tmp_path), "--app", "nothing")
    assert result.exit_code == 1
    assert (
        error_line(result)
        == f"error: no hydro.yaml in {tmp_path}: a model folder needs one (name, entrypoint, signature)"
    )


def test_a_package_the_control_plane_refuses_fails_with_its_reason_and_leaves_no_version(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)
    manifest = yaml.safe_load((folder / "hydro.yaml").read_text())
    manifest["signature"]["inputs"][0]["datatype"] = "FLOAT"
    (folder / "hydro.yaml").write_text(yaml.safe_dump(manifest))

    result = hydro("deploy", str(folder), "--app", model)

    assert result.exit_code == 1
    assert "signature.inputs[0].datatype" in error_line(result) and "FLOAT" in error_line(result)
    assert (
        httpx.get(f"{control_plane.url}/api/v1/models/{model}/versions/1", headers=ADMIN_HEADERS).status_code
        == 404
    )


def test_a_wrong_token_fails_naming_the_token_and_where_it_comes_from(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)
    result = hydro("deploy", str(folder), "--app", model, env=control_plane.env(HYDRO_TOKEN="wrong"))
    assert result.exit_code == 1
    line = error_line(result)
    assert "token is not valid" in line and "HYDRO_TOKEN" in line
    assert (
        httpx.get(f"{control_plane.url}/api/v1/models/{model}/versions/1", headers=ADMIN_HEADERS).status_code
        == 404
    )


def test_the_token_file_under_hydro_home_is_used_when_hydro_token_is_unset(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "token").write_text(ADMIN_TOKEN + "\n")
    env = control_plane.env(HYDRO_HOME=str(home))
    del env["HYDRO_TOKEN"]
    folder, _ = copy_example("fraud-detector", tmp_path)
    result = hydro("deploy", str(folder), "--no-wait", env=env)
    assert result.exit_code == 0, result.output

    (home / "token").unlink()
    refused = hydro("deploy", str(folder), "--no-wait", env=env)
    assert refused.exit_code == 1
    assert "Authorization" in error_line(refused) and str(home / "token") in error_line(refused)


def test_an_unknown_deployment_config_fails_naming_it(hydro: Any, tmp_path: Path) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)
    result = hydro("deploy", str(folder), "--app", model, "--deployment-config", "no-such-config")
    assert result.exit_code == 1
    assert "no-such-config" in error_line(result)


def test_an_unreachable_platform_fails_with_one_line_saying_where_it_looked(
    hydro: Any, control_plane: ControlPlane
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    result = hydro("models", env=control_plane.env(HYDRO_CONTROL_PLANE_URL=closed))
    assert result.exit_code == 1
    assert error_line(result).startswith(f"error: cannot reach {closed}")
    assert "hydro up" in error_line(result)

    invoke = hydro("invoke", "anything", "--json", '{"x": [1]}')
    assert invoke.exit_code == 1
    assert error_line(invoke).startswith(f"error: cannot reach {control_plane.router_url}")


def test_usage_errors_exit_with_2(hydro: Any, tmp_path: Path) -> None:
    assert hydro("deploy", str(tmp_path)).exit_code == 2  # neither --app nor --no-wait
    assert hydro("logs", "fraud-detector").exit_code == 2
    assert "MODEL:VERSION" in hydro("logs", "fraud-detector:x").stderr
    bad_json = hydro("invoke", "app", "--json", "{not json")
    assert bad_json.exit_code == 2 and "not valid JSON" in bad_json.stderr
    assert hydro("invoke", "app", "--json", "[1, 2]").exit_code == 2
    assert hydro("invoke", "app").exit_code == 2
    assert hydro("no-such-command").exit_code == 2
