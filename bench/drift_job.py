"""A whole drift job, as Sonar's worker runs it: Parquet parts from the object store to the HTML report.

`bench/drift.py` times the statistics core on arrays in memory; this adds what a job does around it: list
the window's partitions, read and filter the parts, convert the columns, build the HTML. Default: 1,000,000
production rows x 20 numeric features in 10 parts, against a 200,000-row reference, on the local store.

    .venv/bin/python bench/drift_job.py [--rows 1000000] [--features 20] [--reference 200000] [--parts 10]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from servicekit.object_keys import sample_part_key
from servicekit.object_store import open_object_store
from sonar.jobs import DriftJob, compare, read_window
from sonar.reference import build_reference, features_from_signature

START = datetime(2026, 11, 20, 10, tzinfo=UTC)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--reference", type=int, default=200_000)
    parser.add_argument("--parts", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    names = [f"f{i}" for i in range(args.features)]
    signature = {
        "inputs": [{"name": n, "datatype": "FP64", "shape": [-1]} for n in names],
        "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
    }
    training = pa.table({n: rng.normal(size=args.reference) for n in names})
    began = time.perf_counter()
    reference, profile_json, values = build_reference(features_from_signature(signature), training)
    took = time.perf_counter() - began
    print(
        f"reference: {args.reference:,} rows x {args.features} profiled in {took:.2f} s "
        f"(profile.json {len(profile_json) / 1024:.0f} KiB, reference.npz {len(values) / 2**20:.1f} MiB)"
    )

    with tempfile.TemporaryDirectory() as root:
        store = open_object_store(f"file://{root}")
        per_part = args.rows // args.parts
        for part in range(args.parts):
            times = pa.array(
                [START + timedelta(milliseconds=int(ms)) for ms in rng.integers(0, 3_600_000, per_part)],
                pa.timestamp("ms", tz="UTC"),
            )
            columns = {
                "hydro_time": times,
                "hydro_status": pa.array(["OK"] * per_part),
                "hydro_shadow": pa.array([False] * per_part),
                **{n: rng.normal(0.05 if i < 2 else 0.0, size=per_part) for i, n in enumerate(names)},
            }
            out = io.BytesIO()
            pq.write_table(pa.table(columns), out)
            first_ms = int(START.timestamp() * 1000) + part
            await store.put(sample_part_key("bench", 1, first_ms, f"{part:04d}"), out.getvalue())
        job = DriftJob.from_claim(
            {
                "id": "bench",
                "model": "bench",
                "version": 1,
                "window_start": START.isoformat(),
                "window_end": (START + timedelta(hours=1)).isoformat(),
            }
        )
        before = peak_mib()
        began = time.perf_counter()
        window, files = await read_window(store, job, [f.column for f in reference.profiled])
        read_s = time.perf_counter() - began
        began = time.perf_counter()
        result = await asyncio.to_thread(compare, job, reference, window, files)
        compare_s = time.perf_counter() - began
        await store.close()
    print(f"window: {window.num_rows:,} rows in {files} parts read in {read_s:.2f} s")
    print(f"statistics + HTML: {compare_s:.2f} s; whole job {read_s + compare_s:.2f} s")
    print(f"drifted: {result.summary['drifted_features']}; HTML {len(result.html) / 1024:.0f} KiB")
    print(f"peak RSS {peak_mib():.0f} MiB (before the job {before:.0f} MiB)")


if __name__ == "__main__":
    asyncio.run(main())
