"""Evidently's side of bench/drift.py: its DataDriftPreset on the benchmark's data, timed.

Runs only inside the benchmark's own virtualenv (.cache/bench-evidently-venv), started by bench/drift.py as
`python bench/drift_evidently.py DATA_DIR OUT_JSON`. Two timed runs on the same data:

- ``default``: DataDriftPreset() as shipped (with a 200,000-row reference: normalised Wasserstein for every
  numeric column);
- ``ks``: DataDriftPreset(num_method="ks"), whose per-column score is ``scipy.stats.ks_2samp``'s p-value,
  compared by bench/drift.py with Hydro's.

Each run is preceded by a small warm-up run, so one-time import and registry costs are not counted. The
DataFrames are built before the clock starts.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd  # type: ignore[import-not-found,import-untyped,unused-ignore]
from evidently import DataDefinition, Dataset, Report  # type: ignore[import-not-found]
from evidently.presets import DataDriftPreset  # type: ignore[import-not-found]


def frame(path: Path, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(dict(zip(names, np.load(path), strict=True)))


def run(
    preset: DataDriftPreset, current: pd.DataFrame, reference: pd.DataFrame
) -> tuple[float, float, dict[str, float]]:
    definition = DataDefinition(numerical_columns=list(reference.columns))
    cur = Dataset.from_pandas(current, data_definition=definition)
    ref = Dataset.from_pandas(reference, data_definition=definition)
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    snapshot = Report([preset]).run(cur, ref)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu_started
    scores: dict[str, float] = {}
    for metric in snapshot.dict()["metrics"]:
        column = metric["config"].get("column")
        if column is not None:
            scores[column] = float(metric["value"])
    return seconds, cpu, scores


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    names = json.loads((data / "names.json").read_text())
    reference = frame(data / "reference.npy", names)
    current = frame(data / "current.npy", names)
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result: dict[str, object] = {"baseline_mb": baseline_mb}
    for label, preset in (("default", DataDriftPreset()), ("ks", DataDriftPreset(num_method="ks"))):
        run(preset, current.head(2_000), reference.head(2_000))  # warm-up
        seconds, cpu, scores = run(preset, current, reference)
        result[label] = {"seconds": seconds, "cpu": cpu, "scores": scores}
        print(f"evidently {label}: {seconds:.2f} s", file=sys.stderr, flush=True)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
