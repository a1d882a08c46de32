"""A mistyped HYDRO_* variable stops whatever a user starts with one line naming the variable and what it
accepts, and exit code 2: no pydantic traceback, and nothing left half-started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from hydro.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HYDRO_")}
    return subprocess.run(
        [sys.executable, *argv],
        env={**clean, "HYDRO_HOME": str(tmp_path), **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_hydro_up_with_an_unknown_runtime_names_the_variable_and_the_runtimes(tmp_path: Path) -> None:
    started = run(tmp_path, "-m", "hydro", "up", HYDRO_RUNTIME="swarm")

    assert started.returncode == 2, started.stderr
    assert started.stderr.splitlines() == [
        "hydro: HYDRO_RUNTIME='swarm': Input should be 'process' or 'docker'"
    ]
    assert "Hydro is up" not in started.stdout
    assert not (tmp_path / "token").exists(), "no service started"


def test_a_service_run_alone_names_the_bad_variable_and_exits_2(tmp_path: Path) -> None:
    started = run(tmp_path, "-m", "scaler", HYDRO_RUNTIME="swarm")

    assert started.returncode == 2, started.stderr
    (line,) = started.stderr.splitlines()
    assert line.startswith("scaler: HYDRO_RUNTIME='swarm'")
    assert "'process' or 'docker'" in line


@pytest.mark.parametrize(
    ("command", "variable", "value", "allowed"),
    [
        ("router", "HYDRO_ROUTER_REQUEST_LOG_LEVEL", "LOUD", "'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'OFF'"),
        ("control-plane", "HYDRO_RUNTIME", "swarm", "'process' or 'docker'"),
    ],
)
def test_hydro_service_commands_name_the_bad_variable(
    command: str, variable: str, value: str, allowed: str
) -> None:
    result = CliRunner().invoke(cli, [command], env={variable: value})

    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert f"{variable}={value!r}" in line and allowed in line


def test_a_client_command_with_a_bad_timeout_names_the_variable() -> None:
    result = CliRunner().invoke(cli, ["models"], env={"HYDRO_TIMEOUT_S": "0"})

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == ["hydro: HYDRO_TIMEOUT_S='0': Input should be greater than 0"]
