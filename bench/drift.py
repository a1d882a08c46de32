"""Sonar's drift report on a large window, against a per-column scipy loop and Evidently's DataDriftPreset.

The data (seeded): a 200,000-row reference and a 1,000,000-row production window of 20 numeric features
(normal, log-normal, uniform, exponential and integer counts with many ties; 1% nulls in a few). Features
f00-f15 follow the reference distribution; f16 is shifted by 0.01 standard deviations (a KS distance in the
band where scipy's p-value is an exact Smirnov sum), f17 is 5% wider, f18 is shifted by 0.2 standard
deviations and f19's null share rises from 1% to 8%.

Each contender runs in its own process, on the same arrays (written once to a temporary folder as .npy):

- ``hydro``: :func:`sonar.drift.detect_drift` with the release-time reference profile and sorted reference
  values (computed before, in their own process, as a release would): every statistic of every feature (KS
  statistic and p-value, Wasserstein raw and normalised, PSI, Jensen–Shannon), null shares, the outlier
  share, the default methods, BH correction and the verdict;
- ``scipy``: the same statistics by a plain loop over the columns with scipy's functions on the raw arrays;
- ``evidently``: Evidently's DataDriftPreset (as shipped, then with ``num_method="ks"``), installed in the
  benchmark's own virtualenv (.cache/bench-evidently-venv, created on first use from PyPI).

Times are wall-clock seconds of the report alone (data loaded, warm-up done), best and median of
``--repeat`` runs for Hydro and scipy, one run for Evidently, each with the process's CPU time (user +
system, all threads), the figure that load from other processes on a shared machine barely moves. Peak
memory is the process's peak RSS (``ru_maxrss``) and, for Hydro, the report's own peak allocation under
tracemalloc. The KS statistics and p-values of Hydro, scipy and Evidently are compared column by column.

Run: `.venv/bin/python -m bench.drift` (`--no-evidently` to skip Evidently, `--rows` etc. to resize).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

BENCH = Path(__file__).resolve().parent
REPO_ROOT = BENCH.parent
EVIDENTLY_VENV = REPO_ROOT / ".cache" / "bench-evidently-venv"
EVIDENTLY_PINS = ("evidently==0.7.23", "pandas<3")  # Evidently 0.7.23 imports a helper pandas 3 removed
DECILES = [i / 10 for i in range(1, 10)]

Floats = npt.NDArray[np.float64]


# --- data ----------------------------------------------------------------------------------------------


def make_data(rows: int, reference_rows: int, features: int, seed: int) -> tuple[list[str], Floats, Floats]:
    """Reference and current as (features, rows) float64 arrays: one contiguous row per feature."""
    rng = np.random.default_rng(seed)
    names = [f"f{i:02d}" for i in range(features)]
    reference = np.empty((features, reference_rows))
    current = np.empty((features, rows))
    for i in range(features):
        for out, n, role in ((reference, reference_rows, "reference"), (current, rows, "current")):
            shift, scale, nulls = 0.0, 1.0, 0.01 if i % 4 == 3 else 0.0
            if role == "current" and i == features - 4:
                shift = 0.01
            if role == "current" and i == features - 3:
                scale = 1.05
            if role == "current" and i == features - 2:
                shift = 0.2
            if role == "current" and i == features - 1:
                nulls = 0.08
            out[i] = _draw(rng, i % 5, n, shift, scale)
            out[i][rng.random(n) < nulls] = np.nan
    return names, reference, current


def _draw(rng: np.random.Generator, family: int, n: int, shift: float, scale: float) -> Floats:
    """One feature's values; ``shift`` is in units of the family's standard deviation."""
    if family == 0:
        return rng.normal(50.0 + shift * 10.0, 10.0 * scale, n)
    if family == 1:
        return rng.lognormal(1.0, 0.5 * scale, n) + shift * 1.6
    if family == 2:
        return rng.uniform(0.0, 1.0, n) * scale + shift * 0.29
    if family == 3:
        return rng.exponential(2.0 * scale, n) + shift * 2.0
    counts: Floats = rng.poisson(4.0 * scale, n).astype(np.float64)
    return counts + round(shift * 2.0)  # integers: heavy ties


# --- contenders (each in its own process) ----------------------------------------------------------------


def worker_release(folder: Path) -> None:
    """What a release does once: the reference profile (JSON) and the sorted reference values (.npz)."""
    from sonar.profile import profile_dataset, profiles_to_dict, reference_values, reference_values_to_bytes

    names, reference = _load(folder, "reference")
    started = time.perf_counter()
    columns = dict(zip(names, reference, strict=True))
    profiles = profile_dataset(columns)
    values = reference_values(columns, profiles)
    seconds = time.perf_counter() - started
    (folder / "profile.json").write_text(json.dumps(profiles_to_dict(profiles)))
    (folder / "reference.npz").write_bytes(reference_values_to_bytes(values))
    _answer(folder, "release", {"seconds": seconds})


def worker_hydro(folder: Path, repeat: int) -> None:
    from sonar.drift import detect_drift
    from sonar.profile import profiles_from_dict, reference_values_from_bytes

    names, current = _load(folder, "current")
    profiles = profiles_from_dict(json.loads((folder / "profile.json").read_text()))
    values = reference_values_from_bytes((folder / "reference.npz").read_bytes())
    columns = dict(zip(names, current, strict=True))
    detect_drift(profiles, {n: c[:2_000] for n, c in columns.items()}, values)  # warm-up
    baseline = _rss_mb()
    times, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        report = detect_drift(profiles, columns, values)
        times.append(time.perf_counter() - started)
        cpu.append(_cpu_seconds() - cpu_started)
    peak = _rss_mb()
    tracemalloc.start()
    detect_drift(profiles, columns, values)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    summary = report.to_dict()
    _answer(
        folder,
        "hydro",
        {
            "times": times,
            "cpu": cpu,
            "baseline_mb": baseline,
            "peak_mb": peak,
            "traced_peak_mb": traced_peak,
            "drifted": summary["drifted_features"],
            "outlier_share": summary["outlier_share"],
            "dataset_drift": summary["dataset_drift"],
            "features": {f["name"]: f["statistics"] for f in summary["features"]},
        },
    )


def worker_scipy(folder: Path, repeat: int) -> None:
    names, reference = _load(folder, "reference")
    _, current = _load(folder, "current")
    _scipy_report(names, reference[:, :2_000], current[:, :2_000])  # warm-up
    baseline = _rss_mb()
    times, cpu = [], []
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        features = _scipy_report(names, reference, current)
        times.append(time.perf_counter() - started)
        cpu.append(_cpu_seconds() - cpu_started)
    result = {"times": times, "cpu": cpu, "baseline_mb": baseline, "peak_mb": _rss_mb(), "features": features}
    _answer(folder, "scipy", result)


def _scipy_report(names: list[str], reference: Floats, current: Floats) -> dict[str, dict[str, float]]:
    """The same statistics, one column at a time, straight from scipy on the raw arrays."""
    from scipy import stats  # type: ignore[import-untyped]
    from scipy.spatial.distance import jensenshannon  # type: ignore[import-untyped]

    out: dict[str, dict[str, float]] = {}
    outside = np.zeros(current.shape[1], dtype=np.bool_)
    for name, ref_all, cur_all in zip(names, reference, current, strict=True):
        ref, cur = ref_all[~np.isnan(ref_all)], cur_all[~np.isnan(cur_all)]
        ks = stats.ks_2samp(ref, cur)
        distance = float(stats.wasserstein_distance(ref, cur))
        edges = np.unique(np.quantile(ref, DECILES))
        ref_counts = np.bincount(np.searchsorted(edges, ref), minlength=edges.size + 1)
        cur_counts = np.bincount(np.searchsorted(edges, cur), minlength=edges.size + 1)
        ref_share = np.maximum(ref_counts / ref.size, 1e-4)  # no empty bins here; the floor as Hydro's
        cur_share = np.maximum(cur_counts / cur.size, 1e-4)
        low, high = np.quantile(ref, [0.005, 0.995])
        with np.errstate(invalid="ignore"):
            outside |= (cur_all < low) | (cur_all > high)
        out[name] = {
            "ks_statistic": float(ks.statistic),
            "ks_p_value": float(ks.pvalue),
            "wasserstein": distance,
            "wasserstein_normalised": distance / max(float(np.std(ref)), 1e-3),
            "psi": float(np.sum((cur_share - ref_share) * np.log(cur_share / ref_share))),
            "jensen_shannon": float(jensenshannon(ref_counts, cur_counts)),
            "null_share_change": float(np.isnan(cur_all).mean() - np.isnan(ref_all).mean()),
        }
    out["_outlier_share"] = {"value": float(outside.mean())}
    return out


# --- Evidently -------------------------------------------------------------------------------------------


def ensure_evidently(venv: Path) -> Path:
    """Evidently in its own virtualenv, so its pins never touch Hydro's environment."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pandas; assert pandas.__version__ < '3'"]
    if not python.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        print(f"installing {' '.join(EVIDENTLY_PINS)} into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EVIDENTLY_PINS], check=True)
    return python


# --- orchestration ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--no-evidently", action="store_true", help="skip Evidently (no venv, no PyPI)")
    parser.add_argument("--evidently-venv", type=Path, default=EVIDENTLY_VENV, help="Evidently's virtualenv")
    parser.add_argument("--worker", choices=["release", "hydro", "scipy"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        if args.worker == "release":
            worker_release(args.folder)
        elif args.worker == "hydro":
            worker_hydro(args.folder, args.repeat)
        else:
            worker_scipy(args.folder, args.repeat)
        return

    evidently_python = None if args.no_evidently else ensure_evidently(args.evidently_venv)
    with tempfile.TemporaryDirectory(prefix="hydro-bench-drift-") as tmp:
        folder = Path(tmp)
        names, reference, current = make_data(args.rows, args.reference_rows, args.features, args.seed)
        (folder / "names.json").write_text(json.dumps(names))
        np.save(folder / "reference.npy", reference)
        np.save(folder / "current.npy", current)
        del reference, current
        print(
            f"data: {args.rows:,} production rows x {args.features} numeric features "
            f"against {args.reference_rows:,} reference rows (seed {args.seed})",
            flush=True,
        )
        results: dict[str, Any] = {}
        for worker in ("release", "hydro", "scipy"):
            command = [sys.executable, "-m", "bench.drift", "--worker", worker, "--folder", str(folder)]
            subprocess.run([*command, "--repeat", str(args.repeat)], check=True, cwd=REPO_ROOT)
            results[worker] = json.loads((folder / f"{worker}.json").read_text())
        if evidently_python is not None:
            out = folder / "evidently.json"
            script = BENCH / "drift_evidently.py"
            # -P: the script's folder (bench/) is not put first on the path
            command = [str(evidently_python), "-P", str(script), str(folder), str(out)]
            subprocess.run(command, check=True)
            results["evidently"] = json.loads(out.read_text())
    report(results, names)


def report(results: dict[str, Any], names: list[str]) -> None:
    hydro, scipy_loop = results["hydro"], results["scipy"]
    hydro_best, scipy_best = min(hydro["times"]), min(scipy_loop["times"])
    print(
        "release (profile + sorted reference values, once per version): "
        f"{results['release']['seconds']:.2f} s"
    )
    print(
        f"Hydro report:   best {hydro_best:.2f} s, median {statistics.median(hydro['times']):.2f} s "
        f"of {len(hydro['times'])} (CPU {min(hydro['cpu']):.2f} s, all threads); "
        f"peak RSS {hydro['peak_mb']:.0f} MB ({hydro['baseline_mb']:.0f} MB with the data loaded), "
        f"the report's own peak allocation {hydro['traced_peak_mb']:.0f} MB"
    )
    print(
        f"scipy loop:     best {scipy_best:.2f} s, median {statistics.median(scipy_loop['times']):.2f} s "
        f"(CPU {min(scipy_loop['cpu']):.2f} s); "
        f"peak RSS {scipy_loop['peak_mb']:.0f} MB ({scipy_loop['baseline_mb']:.0f} MB with the data loaded)"
    )
    print(
        f"speed-up vs the scipy loop: {scipy_best / hydro_best:.1f}x wall, "
        f"{min(scipy_loop['cpu']) / min(hydro['cpu']):.1f}x CPU"
    )
    worst = _worst_relative_difference(hydro["features"], scipy_loop["features"], names)
    print(
        "largest relative difference Hydro vs scipy: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
    )
    outliers = hydro["outlier_share"], scipy_loop["features"]["_outlier_share"]["value"]
    print(f"outlier share: Hydro {outliers[0]:.6f}, scipy loop {outliers[1]:.6f}")
    print(f"drifted: {', '.join(hydro['drifted'])}; dataset drift: {hydro['dataset_drift']}")
    if "evidently" in results:
        evidently = results["evidently"]
        default, ks = evidently["default"], evidently["ks"]
        print(
            f"Evidently DataDriftPreset: {default['seconds']:.2f} s (CPU {default['cpu']:.2f} s) "
            f"with its default methods, {ks['seconds']:.2f} s (CPU {ks['cpu']:.2f} s) with num_method='ks'; "
            f"peak RSS {evidently['peak_mb']:.0f} MB ({evidently['baseline_mb']:.0f} MB with the data loaded)"
        )
        print(
            f"speed-up vs Evidently (default preset): {default['seconds'] / hydro_best:.1f}x wall, "
            f"{default['cpu'] / min(hydro['cpu']):.1f}x CPU"
        )
        mismatched = [n for n in names if not _close(hydro["features"][n]["ks_p_value"], ks["scores"][n])]
        identical = sum(hydro["features"][n]["ks_p_value"] == ks["scores"][n] for n in names)
        print(
            f"KS p-values, Hydro vs Evidently (num_method='ks'): {len(names) - len(mismatched)}/{len(names)} "
            f"equal to 1e-9 relative ({identical} bit-identical)"
            + (f"; DIFFERENT: {', '.join(mismatched)}" if mismatched else "")
        )
        wasserstein = [
            n
            for n in names
            if not _close(hydro["features"][n]["wasserstein_normalised"], default["scores"][n])
        ]
        print(
            "normalised Wasserstein, Hydro vs Evidently (default): "
            f"{len(names) - len(wasserstein)}/{len(names)} equal to 1e-9 relative"
            + (f"; DIFFERENT: {', '.join(wasserstein)}" if wasserstein else "")
        )


def _worst_relative_difference(
    ours: dict[str, dict[str, float]], theirs: dict[str, dict[str, float]], names: list[str]
) -> dict[str, float]:
    keys = ("ks_statistic", "ks_p_value", "wasserstein", "psi", "jensen_shannon")
    worst = dict.fromkeys(keys, 0.0)
    for name in names:
        for key in keys:
            a, b = ours[name][key], theirs[name][key]
            if a != b:
                worst[key] = max(worst[key], abs(a - b) / max(abs(a), abs(b)))
    return worst


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


def _load(folder: Path, which: str) -> tuple[list[str], Floats]:
    names: list[str] = json.loads((folder / "names.json").read_text())
    values: Floats = np.load(folder / f"{which}.npy")
    return names, values


def _answer(folder: Path, worker: str, data: dict[str, Any]) -> None:
    (folder / f"{worker}.json").write_text(json.dumps(data))


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads: a figure that other load on the machine barely
    moves, unlike wall-clock time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
