"""A report's verdict: `drift` / `no_drift` only with at least `min_rows` rows in the window, otherwise
`insufficient_data` with the row count (and `dataset_drift` null, never false); each feature says how many
non-null rows it had, in the JSON and on the HTML page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from servicekit.object_store import open_object_store
from sonar.errors import InvalidRequest
from sonar.jobs import DriftJob, run_job
from sonar.reference import Reference, build_reference, features_from_signature
from tests.sonar.drift_samples import samples_table, store_samples

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud-detector"
SIGNATURE = {
    "inputs": [
        {"name": "amount", "datatype": "FP64", "shape": [-1]},
        {"name": "country", "datatype": "BYTES", "shape": [-1], "profile": "categorical"},
    ],
    "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
}
START = datetime(2026, 11, 20, 10, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.fixture(scope="module")
def reference() -> Reference:
    convert = pa_csv.ConvertOptions(column_types={"country": pa.string(), "amount": pa.float64()})
    training = pa_csv.read_csv(EXAMPLE / "data" / "train.csv", convert_options=convert)
    built, _, _ = build_reference(features_from_signature(SIGNATURE), training, source="data/train.csv")
    return built


def job(**thresholds: Any) -> DriftJob:
    return DriftJob.from_claim(
        {
            "id": "9",
            "model": "fraud-detector",
            "version": 1,
            "window_start": START.isoformat(),
            "window_end": END.isoformat(),
            "thresholds": thresholds,
            "training_data": "data/train.csv",
        }
    )


async def window_of(tmp_path: Path, rows: int, missing_amounts: int = 0) -> Any:
    store = open_object_store(f"file://{tmp_path}/objects")
    rng = np.random.default_rng(3)
    amounts: list[float | None] = [float(a) for a in rng.normal(100, 20, rows)]
    for i in range(missing_amounts):
        amounts[i] = None
    table = samples_table(
        [START + timedelta(seconds=i) for i in range(rows)],
        {"amount": amounts, "country": ["DE"] * rows, "score": [0.1] * rows},
    )
    await store_samples(store, "fraud-detector", 1, table)
    return store


async def test_three_rows_are_insufficient_data_not_no_drift(tmp_path: Path, reference: Reference) -> None:
    store = await window_of(tmp_path, rows=3)
    result = await run_job(store, job(), reference)
    summary = result.summary
    assert summary["verdict"] == "insufficient_data"
    assert summary["rows"] == 3 and summary["min_rows"] == 30
    assert summary["dataset_drift"] is None
    assert "insufficient data: 3 rows, fewer than the 30 a verdict needs" in result.html
    assert "no dataset drift" not in result.html
    await store.close()


async def test_enough_rows_get_a_verdict_and_each_feature_its_row_count(
    tmp_path: Path, reference: Reference
) -> None:
    store = await window_of(tmp_path, rows=40, missing_amounts=4)
    result = await run_job(store, job(), reference)
    assert result.summary["verdict"] in ("drift", "no_drift")
    assert result.summary["verdict"] == ("drift" if result.summary["dataset_drift"] else "no_drift")
    rows = {f["name"]: f.get("rows") for f in result.features}
    assert rows["amount"] == 36 and rows["country"] == 40
    assert "<th class=num>rows</th>" in result.html and "<td class=num>36</td>" in result.html

    # the schedule's own min_rows, and Sonar's default given by its setting
    stricter = await run_job(store, job(min_rows=100), reference)
    assert stricter.summary["verdict"] == "insufficient_data" and stricter.summary["min_rows"] == 100
    lenient = await run_job(store, job(), reference, default_min_rows=50)
    assert lenient.summary["verdict"] == "insufficient_data"
    with pytest.raises(InvalidRequest, match="min_rows"):
        await run_job(store, job(min_rows=2.5), reference)
    await store.close()
