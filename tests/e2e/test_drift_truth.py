"""Issue 13's truth test: a drift report counts every record of its window, even the ones Sonar still
holds in memory, and a window with too few rows says so instead of "no drift".

The embedded platform (SQLite, local store, process runtime) with a real Sonar process at its default flush
age (60 s: nothing it buffers reaches the object store on its own during this test), the router sampling
every request to it. The drift worker flushes what Sonar holds of the window before it reads it.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest

from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.e2e.platform import EXAMPLES, Platform
from tests.e2e.stories import copy_example, platform_with_sonar
from wire import oip_grpc

pytestmark = [pytest.mark.slow]

APP = "fraud-truth"
REQUESTS = 60


@pytest.fixture(scope="module")
def truth_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The embedded platform plus Sonar with its default flush age, the router sampling every request."""
    with platform_with_sonar(tmp_path_factory.mktemp("truth-platform")) as platform:
        assert "HYDRO_SONAR_FLUSH_AGE_S" not in platform.env, (
            "the test keeps Sonar's default flush age (60 s)"
        )
        yield platform


def send(platform: Platform, count: int, seed: int) -> None:
    """`count` requests of one row each, drawn from the training data."""
    with (EXAMPLES / "fraud-detector" / "data" / "train.csv").open() as handle:
        training = list(csv.DictReader(handle))
    rng = np.random.default_rng(seed)
    with grpc.insecure_channel(platform.router_grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        for i in rng.integers(0, len(training), count):
            row = training[i]
            request = oip_grpc.encode_infer_request(
                APP,
                {
                    "amount": np.array([float(row["amount"])]),
                    "country": np.array([row["country"].encode()], dtype=object),
                },
            )
            stub.ModelInfer(request, timeout=60)


def written_parts(platform: Platform, model: str) -> list[Path]:
    return list((platform.home / "objects" / "samples" / model / "1").rglob("*.parquet"))


def report_of(platform: Platform, output: str) -> dict[str, Any]:
    match = re.search(r"started drift report ([0-9a-f]{32})", output)
    assert match, output
    response = httpx.get(f"{platform.api}/drift-reports/{match.group(1)}", headers=platform.headers())
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    assert report["status"] == "done", (report, platform.logs("sonar"))
    return report


def sampler_counts(platform: Platform) -> list[str]:
    """The router's counts of records sampled / sent / acknowledged by Sonar / dropped (for a failure)."""
    text = httpx.get(f"{platform.router}/metrics", timeout=5).text
    return [line for line in text.splitlines() if line.startswith("hydro_router_sonar_records")]


def _z(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_report_right_after_traffic_counts_every_sampled_request(
    truth_platform: Platform, tmp_path: Path
) -> None:
    platform = truth_platform
    folder, model = copy_example("fraud-detector", tmp_path)
    deployed = platform.hydro("deploy", str(folder), "--app", APP)
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout + platform.logs()

    # three requests alone in their window: too few for a verdict
    time.sleep(1.1)
    start = datetime.now(UTC)
    send(platform, 3, seed=1)
    end = datetime.now(UTC) + timedelta(milliseconds=5)
    time.sleep(1.1)  # the next window starts after this one ends
    few = platform.hydro("drift", "run", f"{model}:1", "--start", _z(start), "--end", _z(end), "--wait")
    assert few.returncode == 0, few.stderr + few.stdout
    assert "insufficient data" in few.stdout and "3 rows, fewer than 30" in few.stdout
    report = report_of(platform, few.stdout)
    summary = report["summary"]
    assert summary["verdict"] == "insufficient_data" and summary["rows"] == 3 and summary["min_rows"] == 30
    assert summary["dataset_drift"] is None, "never 'no drift' when it means 'no data'"

    # traffic, then at once a report over the last minute: every sampled request is in it
    first = time.monotonic()
    send(platform, REQUESTS, seed=2)
    last_request = time.monotonic()
    if last_request - first < 50:  # Sonar's 60 s flush age has not passed: it still holds them
        parts_before = len(written_parts(platform, model))
    asked_after = time.monotonic() - last_request
    run = platform.hydro("drift", "run", f"{model}:1", "--since", "1m", "--wait", "--timeout", "60")
    assert run.returncode == 0, run.stderr + run.stdout + platform.logs("sonar")
    report = report_of(platform, run.stdout)
    summary = report["summary"]
    assert summary["rows"] == 3 + REQUESTS, (summary, report["window_end"], sampler_counts(platform))
    assert summary["verdict"] == "no_drift" and summary["dataset_drift"] is False
    features = {f["name"]: f for f in report["features"]}
    assert features["amount"]["rows"] == 3 + REQUESTS and features["country"]["rows"] == 3 + REQUESTS
    assert asked_after < 5, "the run was asked for right after the traffic"
    if last_request - first < 50:
        assert len(written_parts(platform, model)) > parts_before, "the job flushed Sonar's buffer"
    html = httpx.get(f"{platform.api}/drift-reports/{report['id']}/html", headers=platform.headers())
    assert html.status_code == 200 and f"{3 + REQUESTS}" in html.text
