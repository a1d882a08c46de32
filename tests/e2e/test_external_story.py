"""Issue 13's external model story, on the embedded platform (SQLite, local store) with a real Sonar.

A team serves its fraud model elsewhere and wants Hydro's drift reports: it registers the model as external
with `hydro external register` (a folder holding hydro.yaml with `external: true` and the training data, no
code), sends 2,000 request and response pairs with `HydroClient.send_samples`, half as the training data
looked and half with the amounts tripled, and runs a drift report over each half's window: nothing drifts
in the first, `amount` (and nothing else) in the second. No image is built and no replica runs.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from hydro.client import HydroClient
from tests.e2e.platform import ADMIN_TOKEN, EXAMPLES, Platform
from tests.e2e.stories import platform_with_sonar, wait_until

pytestmark = [pytest.mark.slow]

MODEL = "fraud-elsewhere"
PER_PHASE = 1000


@pytest.fixture(scope="module")
def sonar_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with platform_with_sonar(
        tmp_path_factory.mktemp("external-platform"), HYDRO_SONAR_FLUSH_AGE_S="0.5"
    ) as p:
        yield p


def external_folder(tmp_path: Path) -> Path:
    """The fraud model's signature and training data, and no code: Hydro will not run it."""
    example = yaml.safe_load((EXAMPLES / "fraud-detector" / "hydro.yaml").read_text())
    folder = tmp_path / MODEL
    (folder / "data").mkdir(parents=True)
    shutil.copy(EXAMPLES / "fraud-detector" / "data" / "train.csv", folder / "data" / "train.csv")
    manifest = {
        "name": MODEL,
        "external": True,
        "signature": example["signature"],
        "training_data": "data/train.csv",
        "metadata": {"served_by": "the risk team's own cluster"},
    }
    (folder / "hydro.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder


def pairs(seed: int, at: datetime, amount_factor: float) -> list[dict[str, Any]]:
    """PER_PHASE pairs of one item each, drawn from the training data, a millisecond apart from `at`."""
    with (EXAMPLES / "fraud-detector" / "data" / "train.csv").open() as handle:
        training = list(csv.DictReader(handle))
    rng = np.random.default_rng(seed)
    out = []
    for i, pick in enumerate(rng.integers(0, len(training), PER_PHASE)):
        row = training[pick]
        moment = at + timedelta(milliseconds=i)
        out.append(
            {
                "request": {
                    "inputs": [
                        {"name": "amount", "datatype": "FP64", "shape": [1],
                         "data": [float(row["amount"]) * amount_factor]},
                        {"name": "country", "datatype": "BYTES", "shape": [1], "data": [row["country"]]},
                    ]
                },
                "response": {"outputs": [{"name": "score", "datatype": "FP64", "shape": [1],
                                          "data": [float(rng.random())]}]},
                "time": moment.isoformat().replace("+00:00", "Z"),
            }
        )  # fmt: skip
    return out


def written_rows(platform: Platform, start: datetime, end: datetime) -> int:
    rows = 0
    low = pa.scalar(start, pa.timestamp("ms", tz="UTC"))
    high = pa.scalar(end, pa.timestamp("ms", tz="UTC"))
    for path in (platform.home / "objects" / "samples" / MODEL / "1").rglob("*.parquet"):
        times = pq.read_table(path, columns=["hydro_time"]).column("hydro_time")
        inside = pc.and_(pc.greater_equal(times, low), pc.less(times, high))
        rows += int(pc.sum(pc.cast(inside, pa.int64())).as_py() or 0)
    return rows


def report_over(platform: Platform, start: datetime, end: datetime) -> dict[str, Any]:
    wait_until(lambda: written_rows(platform, start, end) == PER_PHASE, 60, "sonar wrote every sample")
    window = {"start": _z(start), "end": _z(end)}
    started = httpx.post(
        f"{platform.api}/models/{MODEL}/versions/1/drift-reports", json=window, headers=platform.headers()
    )
    assert started.status_code == 202, started.text
    report: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal report
        url = f"{platform.api}/drift-reports/{started.json()['id']}"
        report = httpx.get(url, headers=platform.headers()).json()
        return report["status"] in ("done", "failed")

    wait_until(finished, 120, "the drift report is computed")
    assert report["status"] == "done", (report, platform.logs("sonar"))
    assert report["summary"]["rows"] == PER_PHASE
    return report


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_an_external_model_gets_drift_reports_from_samples_sent_over_http(
    sonar_platform: Platform, tmp_path: Path
) -> None:
    platform = sonar_platform
    registered = platform.hydro("external", "register", MODEL, "--signature", str(external_folder(tmp_path)))
    assert registered.returncode == 0, registered.stderr + registered.stdout + platform.logs()
    assert f"registered {MODEL}:1 (external, released)" in registered.stdout

    # the samples carry their own times: one window of training-like traffic, one with amounts tripled
    calm = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    shifted = calm + timedelta(minutes=2)
    with HydroClient(platform.env["HYDRO_CONTROL_PLANE_URL"], token=ADMIN_TOKEN) as client:
        version = client.version(MODEL, 1)
        assert version.external and version.status == "released" and version.image is None
        # Sonar learns of the new version from the catalog; a record of a version it does not list yet
        # waits a moment for the next snapshot
        sent = client.send_samples(MODEL, 1, pairs(21, calm, 1.0))
        sent += client.send_samples(MODEL, 1, pairs(22, shifted, 3.0))
    assert sent == 2 * PER_PHASE

    phase = timedelta(milliseconds=PER_PHASE)
    report = report_over(platform, calm, calm + phase)
    assert report["summary"]["drifted_features"] == [], report["features"]

    report = report_over(platform, shifted, shifted + phase)
    assert report["summary"]["drifted_features"] == ["amount"], report["features"]
    amount = next(f for f in report["features"] if f["name"] == "amount")
    assert amount["value_drift"] and amount["method"] == "ks"

    # Sonar built the reference from the uploaded training data; nothing was ever served
    assert (platform.home / "objects" / "profiles" / MODEL / "1" / "profile.json").exists()
    apps = httpx.get(f"{platform.api}/applications", headers=platform.headers()).json()["applications"]
    assert all(MODEL not in str(app) for app in apps)
