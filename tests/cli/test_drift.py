"""`hydro monitor` and `hydro drift run|list|show` against a real control plane; a Sonar worker's side is
played by plain HTTP calls to the control plane's internal drift-job endpoints, as a worker makes them."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.conftest import ADMIN_HEADERS, SERVICE_TOKEN, ControlPlane, copy_example

FEATURES = [
    {"name": "country", "kind": "categorical", "method": "chi_square", "score": 0.2, "threshold": 0.05,
     "p_value": 0.4, "drifted": False},
    {"name": "amount", "kind": "numeric", "method": "ks", "score": 0.61, "threshold": 0.05,
     "p_value": 1.5e-9, "drifted": True},
]  # fmt: skip
SUMMARY = {"dataset_drift": True, "share_drifted": 0.5, "drifted_features": ["amount"], "rows": 240}
PAGE = "<!doctype html><title>amount drifted</title><h1>amount</h1>"


class SonarWorker:
    """A worker's calls: claim a job, hand back a result."""

    def __init__(self, control_plane: ControlPlane, name: str = "sonar-cli-test") -> None:
        self.name = name
        self.http = httpx.Client(
            base_url=control_plane.url, headers={"Authorization": f"Bearer {SERVICE_TOKEN}"}, timeout=30
        )

    def claim(self) -> dict[str, Any] | None:
        response = self.http.post("/api/v1/internal/drift-jobs/claim", json={"worker": self.name})
        assert response.status_code in (200, 204), response.text
        return None if response.status_code == 204 else dict(response.json())

    def complete(self, report_id: str) -> None:
        body = {"worker": self.name, "summary": SUMMARY, "features": FEATURES, "html": PAGE}
        response = self.http.post(f"/api/v1/internal/drift-jobs/{report_id}/complete", json=body)
        assert response.status_code == 200, response.text


@pytest.fixture
def sonar_worker(control_plane: ControlPlane) -> Iterator[Callable[..., SonarWorker]]:
    """Stand-in Sonar workers against the control plane, their HTTP connections closed afterwards."""
    workers: list[SonarWorker] = []

    def start(name: str = "sonar-cli-test") -> SonarWorker:
        workers.append(SonarWorker(control_plane, name))
        return workers[-1]

    yield start
    for worker in workers:
        worker.http.close()


def _error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    text: str = line
    return text


def _report_id(output: str) -> str:
    match = re.search(r"started drift report ([0-9a-f]{32})", output)
    assert match, output
    return match.group(1)


def test_a_model_owner_schedules_runs_and_reads_drift_reports(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path, sonar_worker: Callable[..., SonarWorker]
) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)
    assert hydro("deploy", str(folder), "--app", model).exit_code == 0
    version = f"{model}:1"

    assert "no monitoring schedule" in _error(hydro("monitor", version))
    assert "no monitoring schedule" in _error(hydro("monitor", version, "--off"))
    assert "--cron and --window" in hydro("monitor", version, "--cron", "0 * * * *").output

    shown = hydro("monitor", version, "--cron", "0 * * * *", "--window", "1h", "--threshold", "psi=0.2")
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.stdout.splitlines() if line.strip().startswith(version))
    assert "0 * * * *" in row and " 1h " in row and " on " in row and "psi=0.2" in row
    off = hydro("monitor", version, "--off")
    assert off.exit_code == 0 and " off " in off.stdout and "psi=0.2" in off.stdout
    stored = httpx.get(
        f"{control_plane.url}/api/v1/models/{model}/versions/1/monitoring", headers=ADMIN_HEADERS
    ).json()
    assert (stored["cron"], stored["window_s"], stored["enabled"]) == ("0 * * * *", 3600, False)
    assert stored["thresholds"] == {"psi": 0.2}
    assert "cron" in _error(hydro("monitor", version, "--cron", "every hour"))
    assert "psi=high" in hydro("monitor", version, "--threshold", "psi=high").output

    strict = hydro("monitor", version, "--correction", "bonferroni")
    assert strict.exit_code == 0, strict.output
    assert "psi=0.2" in strict.stdout and "correction=bonferroni" in strict.stdout
    renumbered = hydro("monitor", version, "--threshold", "ks_pvalue=0.01")
    assert "ks_pvalue=0.01" in renumbered.stdout and "correction=bonferroni" in renumbered.stdout
    assert "psi=0.2" not in renumbered.stdout, "new numbers replace the old ones"
    assert "'holm'" in hydro("monitor", version, "--correction", "holm").output
    stored = httpx.get(
        f"{control_plane.url}/api/v1/models/{model}/versions/1/monitoring", headers=ADMIN_HEADERS
    ).json()
    assert stored["thresholds"] == {"ks_pvalue": 0.01, "correction": "bonferroni"}

    started = hydro("drift", "run", version, "--since", "1h")
    assert started.exit_code == 0, started.output
    report_id = _report_id(started.stdout)
    assert "pending" in started.stdout and f"hydro drift show {report_id}" in started.stdout
    listed = hydro("drift", "list", version)
    assert listed.exit_code == 0 and report_id in listed.stdout and "pending" in listed.stdout

    worker = sonar_worker()
    job = worker.claim()
    assert job is not None and job["id"] == report_id
    assert job["training_data"]["path"] == "data/train.csv"
    assert job["thresholds"] == {"ks_pvalue": 0.01, "correction": "bonferroni"}, "the schedule's, for Sonar"
    worker.complete(report_id)

    listed = hydro("drift", "list", version)
    row = next(line for line in listed.stdout.splitlines() if line.strip().startswith(report_id))
    assert "done" in row and "drift (50% of features)" in row and "amount" in row

    shown = hydro("drift", "show", report_id, "--html", str(tmp_path / "report.html"))
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert report_id in out and version in out and "drift (50% of features)" in out and "240" in out
    amount, country = out.index("amount"), out.index("country")
    assert amount < country  # drifted features first
    assert (tmp_path / "report.html").read_text() == PAGE
    as_json = json.loads(hydro("drift", "show", report_id, "--json").stdout)
    assert as_json["summary"] == SUMMARY and as_json["features"] == FEATURES


def test_drift_run_waits_for_a_worker_and_bad_input_gets_one_line(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path, sonar_worker: Callable[..., SonarWorker]
) -> None:
    folder, model = copy_example("fraud-detector", tmp_path)
    assert hydro("deploy", str(folder), "--app", model).exit_code == 0
    version = f"{model}:1"

    worker = sonar_worker("sonar-waiting")
    done = threading.Event()

    def work() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = worker.claim()
            if job is not None:
                worker.complete(job["id"])
                done.set()
                return
            time.sleep(0.2)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    waited = hydro("drift", "run", version, "--since", "30m", "--wait", "--timeout", "30")
    thread.join(30)
    assert done.is_set()
    assert waited.exit_code == 0, waited.output
    assert "done" in waited.stdout and "amount" in waited.stdout

    assert hydro("drift", "run", version).exit_code == 2
    assert hydro("drift", "run", version, "--since", "1h", "--start", "2026-01-01T00:00:00Z").exit_code == 2
    assert "since" in _error(hydro("drift", "run", version, "--since", "an hour"))
    assert "no-such-model" in _error(hydro("drift", "run", "no-such-model:1", "--since", "1h"))
    assert "no-such-model" in _error(hydro("drift", "list", "no-such-model:1"))
    assert "no-such-report" in _error(hydro("drift", "show", "no-such-report"))
