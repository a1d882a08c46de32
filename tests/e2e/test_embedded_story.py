"""The same story on the embedded default: SQLite, the local object store and local runtime processes."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.e2e.platform import Platform, example_model
from tests.e2e.stories import copy_example, wait_until
from wire import plain_form
from wire.signature import Signature

pytestmark = [pytest.mark.slow]

FRAUD_INPUT = {"amount": [12.5, 900.0], "country": ["DE", "NG"]}


def runtime_processes(home: Path) -> list[int]:
    """PIDs of model servers whose model folder lives under this platform's HYDRO_HOME."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"runtime" in argv and any(str(home).encode() in arg for arg in argv):
            pids.append(int(entry.name))
    return pids


def test_deploy_invoke_scale_to_zero_and_back(embedded_platform: Platform, tmp_path: Path) -> None:
    platform = embedded_platform
    platform.put_deployment_config("quick", scale_to_zero_grace_s=2.0, stable_window_s=4.0)
    folder, model = copy_example("fraud-detector", tmp_path)

    deployed = platform.hydro("deploy", str(folder), "--app", "fraud", "--deployment-config", "quick")
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout + platform.logs()
    assert "/apps/fraud" in deployed.stdout
    assert "curl" in deployed.stdout
    assert runtime_processes(platform.home) == []

    signature = Signature.from_dict(
        httpx.get(f"{platform.api}/models/{model}/versions/1", headers=platform.headers()).json()["signature"]
    )
    expected = example_model("fraud-detector").predict(
        plain_form.decode_plain_request(FRAUD_INPUT, signature)
    )

    answer = platform.invoke("fraud", FRAUD_INPUT)
    assert answer.status_code == 200, answer.text + platform.logs()
    np.testing.assert_allclose(answer.json()["score"], expected["score"])
    assert len(runtime_processes(platform.home)) == 1
    replicas = platform.application("fraud")["stages"][0]["variants"][0]["replicas"]
    assert replicas["ready"] == 1

    wait_until(lambda: runtime_processes(platform.home) == [], 30, "the idle runtime process is stopped")

    invoked = platform.hydro(
        "invoke", "fraud", "--json", '{"amount": [12.5, 900.0], "country": ["DE", "NG"]}'
    )
    assert invoked.returncode == 0, invoked.stderr
    assert "score" in invoked.stdout
    assert len(runtime_processes(platform.home)) == 1


def test_cli_reports_errors_with_exit_code_and_reason(embedded_platform: Platform, tmp_path: Path) -> None:
    missing = embedded_platform.hydro("deploy", str(tmp_path), "--app", "nothing")
    assert missing.returncode == 1
    assert "hydro.yaml" in missing.stderr

    unknown = embedded_platform.hydro("invoke", "no-such-app", "--json", "{}")
    assert unknown.returncode == 1
    assert "no-such-app" in unknown.stderr

    folder, model = copy_example("fraud-detector", tmp_path)
    wrong_token = embedded_platform.hydro_as(
        dict(embedded_platform.env, HYDRO_TOKEN="wrong"), "deploy", str(folder), "--app", "x"
    )
    assert wrong_token.returncode == 1
    assert "token" in wrong_token.stderr.lower()
    assert (
        httpx.get(
            f"{embedded_platform.api}/models/{model}/versions/1", headers=embedded_platform.headers()
        ).status_code
        == 404
    )
