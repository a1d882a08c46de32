"""Issue 5's drift story on a deployed example, embedded platform (SQLite, local store, process runtime).

The fraud-detector example is deployed with its training data; real requests go through the router over
gRPC, the router samples them to a real Sonar (`python -m sonar`), Sonar writes Parquet, and a report run
by hand over each phase's window is computed by Sonar's drift worker and read back from the control plane:

1. traffic drawn from the training data: no drift;
2. the same traffic with amounts tripled: `amount` drifts and nothing else;
3. a quarter of the amounts missing (NaN): `amount` drifts on its null share;
4. a fifth of the countries a code the training data never had: `country` drifts, the code is named.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.e2e.platform import EXAMPLES, Platform
from tests.e2e.stories import copy_example, platform_with_sonar, wait_until
from wire import oip_grpc

pytestmark = [pytest.mark.slow]

APP = "fraud-drift"
BATCHES, BATCH = 20, 25  # 500 sampled rows per phase, against 600 training rows


@pytest.fixture(scope="module")
def drift_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """The embedded platform plus Sonar, with the router sampling every request to it."""
    home = tmp_path_factory.mktemp("drift-platform")
    with platform_with_sonar(home, HYDRO_SONAR_FLUSH_AGE_S="0.5") as platform:
        yield platform


def training_rows() -> list[dict[str, str]]:
    with (EXAMPLES / "fraud-detector" / "data" / "train.csv").open() as handle:
        return list(csv.DictReader(handle))


def send_phase(
    platform: Platform,
    seed: int,
    *,
    amount_factor: float = 1.0,
    missing: float = 0.0,
    new_country: float = 0.0,
) -> tuple[datetime, datetime]:
    """Invoke the application with rows drawn from the training data, changed as asked; the window."""
    rng = np.random.default_rng(seed)
    training = training_rows()
    time.sleep(0.05)
    start = datetime.now(UTC) - timedelta(milliseconds=2)
    with grpc.insecure_channel(platform.router_grpc) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
        for _ in range(BATCHES):
            picks = [training[i] for i in rng.integers(0, len(training), BATCH)]
            amount = np.array([float(p["amount"]) * amount_factor for p in picks])
            amount[rng.random(BATCH) < missing] = np.nan
            country = np.array([p["country"].encode() for p in picks], dtype=object)
            country[rng.random(BATCH) < new_country] = b"XX"
            request = oip_grpc.encode_infer_request(APP, {"amount": amount, "country": country})
            stub.ModelInfer(request, timeout=60)
    end = datetime.now(UTC) + timedelta(milliseconds=2)
    time.sleep(0.05)
    return start, end


def sampled_rows(platform: Platform, model: str, start: datetime, end: datetime) -> int:
    """Rows Sonar has written for the model's version 1 inside [start, end)."""
    rows = 0
    for path in (platform.home / "objects" / "samples" / model / "1").rglob("*.parquet"):
        times = pq.read_table(path, columns=["hydro_time"]).column("hydro_time")
        low = pa.scalar(start, pa.timestamp("ms", tz="UTC"))
        high = pa.scalar(end, pa.timestamp("ms", tz="UTC"))
        inside = pc.and_(pc.greater_equal(times, low), pc.less(times, high))
        rows += int(pc.sum(pc.cast(inside, pa.int64())).as_py() or 0)
    return rows


def drift_report(platform: Platform, model: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Run a report by hand over the window and wait until Sonar's worker has computed it."""
    wait_until(
        lambda: sampled_rows(platform, model, start, end) == BATCHES * BATCH,
        60,
        "sonar has written every sampled row of the phase",
    )
    response = httpx.post(
        f"{platform.api}/models/{model}/versions/1/drift-reports",
        json={"start": _z(start), "end": _z(end)},
        headers=platform.headers(),
    )
    assert response.status_code == 202, response.text
    report_id = response.json()["id"]
    report: dict[str, Any] = {}

    def finished() -> bool:
        nonlocal report
        report = httpx.get(f"{platform.api}/drift-reports/{report_id}", headers=platform.headers()).json()
        return report["status"] in ("done", "failed")

    wait_until(finished, 120, f"drift report {report_id} is computed")
    assert report["status"] == "done", (report, platform.logs("sonar"))
    assert report["summary"]["rows"] == BATCHES * BATCH
    return report


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def test_drift_story(drift_platform: Platform, tmp_path: Path) -> None:
    platform = drift_platform
    folder, model = copy_example("fraud-detector", tmp_path)
    deployed = platform.hydro("deploy", str(folder), "--app", APP)
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout + platform.logs()

    # 1. traffic like the training data: nothing drifts
    report = drift_report(platform, model, *send_phase(platform, seed=11))
    assert report["summary"]["drifted_features"] == [], report["features"]
    assert not report["summary"]["dataset_drift"]
    features = {f["name"]: f for f in report["features"]}
    assert features["amount"]["method"] == "ks" and features["country"]["method"] == "chi_square"
    assert features["score"]["status"] == "no_reference"  # the training data has no scores

    # 2. amounts tripled: amount, and no other feature
    report = drift_report(platform, model, *send_phase(platform, seed=12, amount_factor=3.0))
    assert report["summary"]["drifted_features"] == ["amount"]
    amount = report["features"][0]
    assert amount["name"] == "amount" and amount["value_drift"] and not amount["null_drift"]

    # 3. a quarter of the amounts missing: amount, on its null share
    report = drift_report(platform, model, *send_phase(platform, seed=13, missing=0.25))
    assert report["summary"]["drifted_features"] == ["amount"]
    amount = report["features"][0]
    assert amount["null_drift"] and 0.15 < amount["null_share_current"] < 0.35
    assert amount["null_share_reference"] == 0.0

    # 4. a country the training data never had: country, naming the new code
    report = drift_report(platform, model, *send_phase(platform, seed=14, new_country=0.2))
    assert report["summary"]["drifted_features"] == ["country"]
    country = report["features"][0]
    assert country["value_drift"] and country["statistics"]["unseen_categories"] == ["XX"]
    assert 0.1 < country["statistics"]["unseen_share"] < 0.3

    html = httpx.get(f"{platform.api}/drift-reports/{report['id']}/html", headers=platform.headers())
    assert html.status_code == 200 and "XX (new)" in html.text

    # Sonar built the reference once, from the package, and keeps it for the next reports
    profile = platform.home / "objects" / "profiles" / model / "1" / "profile.json"
    assert profile.exists()
