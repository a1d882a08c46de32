"""One drift job: a model version's sampled traffic in a time window, compared with its reference.

The job reads only the partitions the window touches: for every UTC hour in ``[start, end)`` it lists
``samples/{model}/{version}/date=YYYY-MM-DD/hour=HH/`` (a whole ``date=`` folder at once when the window
covers the full day), reads each part with only the columns it needs, and keeps the rows with
``start <= hydro_time < end`` and ``hydro_status == "OK"`` (a failed call has no outputs, and its inputs
may be the very reason it failed).

Shadow rows (``hydro_shadow``) are kept: a shadow variant receives copies of real requests, so its inputs
are production data like any other, and a version that only ever runs as a shadow would otherwise never
get a report. Samples are stored per version, so shadow traffic of one version never mixes into another's.

The verdict (``summary["verdict"]``) is ``drift``, ``no_drift`` or ``insufficient_data``: a window with
fewer rows than ``min_rows`` (the job's threshold, else Sonar's ``drift_min_rows``) is never called "no
drift" — its ``dataset_drift`` is null and the summary says how many rows it had. The statistics are still
computed and shown, for what they are worth. Each feature entry says how many non-null rows it had
(``rows``).

The object store I/O runs on the event loop; decoding Parquet and the statistics run in a worker thread
(:func:`run_job`), so a big window never stalls the loop.
"""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from servicekit.object_keys import samples_day_prefix, samples_hour_prefix
from servicekit.object_store import ObjectStore
from sonar.drift import DEFAULT_THRESHOLDS, DriftConfig, detect_drift
from sonar.drift_report import DriftReport
from sonar.errors import InvalidRequest
from sonar.profile import null_mask
from sonar.reference import Reference, column_values
from sonar.report_html import render_report
from sonar.settings import DEFAULT_MIN_ROWS

TIME, STATUS, SHADOW = "hydro_time", "hydro_status", "hydro_shadow"
OK = "OK"
PARALLEL_PARTS = max(1, min(4, os.cpu_count() or 1))
"""Parts of a window fetched and decoded at the same time (one per CPU, at most four)."""


@dataclass(frozen=True)
class DriftJob:
    """A claimed job, as the control plane hands it out."""

    id: str
    model: str
    version: int
    window_start: datetime
    window_end: datetime
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    training_data: str | None = None
    """The manifest's ``training_data`` path inside the package (None: the version has none)."""
    artifact_endpoint: str | None = None
    """Where the control plane serves the package (a path on the control plane's URL)."""
    signature: Mapping[str, Any] | None = None

    @classmethod
    def from_claim(cls, data: Mapping[str, Any]) -> DriftJob:
        """Read the claim answer; InvalidRequest names a missing or malformed field.

        ``training_data`` is the control plane's object (``path``, ``artifact_endpoint``, ...) or a bare path.
        """
        training = data.get("training_data")
        path, endpoint = (
            (training.get("path"), training.get("artifact_endpoint"))
            if isinstance(training, Mapping)
            else (training, None)
        )
        try:
            job = cls(
                id=str(data["id"]),
                model=str(data["model"]),
                version=int(data["version"]),
                window_start=parse_time(data["window_start"], "window_start"),
                window_end=parse_time(data["window_end"], "window_end"),
                thresholds=dict(data.get("thresholds") or {}),
                training_data=str(path) if path else None,
                artifact_endpoint=str(endpoint) if endpoint else None,
                signature=data.get("signature"),
            )
        except KeyError as exc:
            raise InvalidRequest(f"the claimed job has no {exc.args[0]!r} field") from None
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(f"the claimed job is malformed: {exc}") from None
        if job.window_end <= job.window_start:
            raise InvalidRequest(
                f"the job's window ends ({job.window_end.isoformat()}) before it starts "
                f"({job.window_start.isoformat()})"
            )
        return job

    @property
    def label(self) -> str:
        return f"{self.model}:{self.version}"


@dataclass(frozen=True)
class JobResult:
    """What the worker hands back: the summary, one entry per feature, and the HTML report."""

    summary: dict[str, Any]
    features: list[dict[str, Any]]
    html: str


def parse_time(value: Any, name: str) -> datetime:
    """An ISO-8601 time as an aware UTC datetime (a time without offset is taken as UTC)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} {value!r} is not an ISO-8601 time") from None
    else:
        raise ValueError(f"{name} must be an ISO-8601 string, not {type(value).__name__}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def partition_prefixes(model: str, version: int, start: datetime, end: datetime) -> list[str]:
    """The key prefixes whose partitions can hold rows of ``[start, end)``: one per hour, or one per date
    when the window covers all 24 hours of it."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = end.astimezone(UTC)
    hours_by_day: dict[date, list[datetime]] = {}
    while hour < end:
        hours_by_day.setdefault(hour.date(), []).append(hour)
        hour += timedelta(hours=1)
    prefixes = []
    for day, hours in hours_by_day.items():
        if len(hours) == 24:
            prefixes.append(samples_day_prefix(model, version, day))
        else:
            prefixes.extend(samples_hour_prefix(model, version, h) for h in hours)
    return prefixes


async def window_keys(
    store: ObjectStore, model: str, version: int, start: datetime, end: datetime
) -> list[str]:
    """The Parquet parts of the partitions the window touches."""
    keys: list[str] = []
    for prefix in partition_prefixes(model, version, start, end):
        keys.extend(k for k in await store.keys(prefix) if k.endswith(".parquet"))
    return keys


def read_part(data: bytes, columns: Sequence[str], start: datetime, end: datetime) -> pa.Table:
    """The rows of one part inside ``[start, end)`` with status OK, limited to ``columns``.

    A column the part lacks (written before a field existed) comes back as nulls. Blocking.
    """
    source = pq.ParquetFile(io.BytesIO(data))
    present = set(source.schema_arrow.names)
    for needed in (TIME, STATUS):
        if needed not in present:
            raise InvalidRequest(f"a sample part has no {needed!r} column")
    table = source.read(columns=[c for c in dict.fromkeys([TIME, STATUS, *columns]) if c in present])
    times = pc.cast(table.column(TIME), pa.timestamp("ms", tz="UTC"))
    keep = pc.and_(
        pc.and_(
            pc.greater_equal(times, pa.scalar(start, pa.timestamp("ms", tz="UTC"))),
            pc.less(times, pa.scalar(end, pa.timestamp("ms", tz="UTC"))),
        ),
        pc.equal(table.column(STATUS), OK),
    )
    keep = pc.fill_null(keep, False)
    if not pc.all(keep).as_py():  # most parts lie wholly inside the window: no copy for them
        table = table.filter(keep)
    for name in columns:
        if name not in present:
            table = table.append_column(name, pa.nulls(table.num_rows))
    return table.select(list(columns))


async def read_window(store: ObjectStore, job: DriftJob, columns: Sequence[str]) -> tuple[pa.Table, int]:
    """The window's rows (only ``columns``) and the number of parts read.

    Up to :data:`PARALLEL_PARTS` parts are fetched and decoded at once (Parquet decoding releases the GIL).
    """
    keys = await window_keys(store, job.model, job.version, job.window_start, job.window_end)
    slots = asyncio.Semaphore(PARALLEL_PARTS)

    async def one(key: str) -> pa.Table:
        async with slots:
            data = await store.get(key)
            try:
                return await asyncio.to_thread(read_part, data, columns, job.window_start, job.window_end)
            except (pa.ArrowException, OSError) as exc:
                raise InvalidRequest(f"sample part {key!r} cannot be read: {exc}") from None

    try:
        async with asyncio.TaskGroup() as group:  # one bad part cancels the others
            tasks = [group.create_task(one(key)) for key in keys]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    tables = [task.result() for task in tasks]
    if not tables:
        return pa.table({name: pa.nulls(0) for name in columns}), 0
    return pa.concat_tables(tables, promote_options="permissive"), len(keys)


def drift_config(thresholds: Mapping[str, Any]) -> DriftConfig:
    """The job's thresholds as a DriftConfig; every key is optional, an unknown key is refused by name.

    The control plane's keys: ``ks_pvalue`` and ``chi2_pvalue`` (the significance of the p-value tests),
    ``psi``, ``wasserstein``, ``jensenshannon`` (distance thresholds), ``null_share`` (the change in null
    share that flags a feature) and ``drift_share`` (the share of drifted features that makes the dataset
    drift). Also understood: ``alpha``, ``correction`` (``benjamini-hochberg``, ``bonferroni``, ``none``),
    ``small_sample`` and ``methods`` (feature -> method).

    KS and chi-square p-values are corrected together (one false discovery rate per report), so they share
    one significance level: when ``ks_pvalue`` and ``chi2_pvalue`` differ, the smaller one applies.
    """
    base = DriftConfig()
    per_method = dict(base.thresholds)
    values: dict[str, Any] = {}
    alphas = []
    for key, value in thresholds.items():
        if value is None:
            continue
        key = _ALIASES.get(key, key)
        if key in DEFAULT_THRESHOLDS:
            per_method[key] = _number(key, value)
        elif key in ("alpha", "ks_pvalue", "chi2_pvalue"):
            alphas.append(_number(key, value))
        elif key == "null_share":
            values["null_share_threshold"] = _number(key, value)
        elif key == "drift_share":
            values["drift_share"] = _number(key, value)
        elif key == "min_rows":
            continue  # decides the verdict, not the statistics: see `min_rows_of`
        elif key == "small_sample":
            values["small_sample"] = int(_number(key, value))
        elif key == "correction":
            if value not in ("benjamini-hochberg", "bonferroni", "none"):
                raise InvalidRequest(
                    f"threshold 'correction' is {value!r}; use benjamini-hochberg, bonferroni or none"
                )
            values["correction"] = value
        elif key == "methods":
            if not isinstance(value, Mapping):
                raise InvalidRequest("threshold 'methods' must map feature names to method names")
            values["methods"] = dict(value)
        else:
            raise InvalidRequest(f"unknown drift threshold {key!r}")
    if alphas:
        values["alpha"] = min(alphas)
    return DriftConfig(thresholds=per_method, **values)


_ALIASES = {"jensenshannon": "jensen_shannon", "null_share_threshold": "null_share"}


def min_rows_of(thresholds: Mapping[str, Any], default: int) -> int:
    """The job's ``min_rows`` threshold, else ``default``."""
    value = thresholds.get("min_rows")
    if value is None:
        return default
    number = _number("min_rows", value)
    if number < 1 or number != int(number):
        raise InvalidRequest(f"threshold 'min_rows' must be a whole number of at least 1, not {value!r}")
    return int(number)


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"threshold {key!r} must be a number, not {value!r}")
    return float(value)


def current_columns(reference: Reference, window: pa.Table) -> dict[str, npt.NDArray[Any]]:
    """The window's profiled columns as arrays the statistics core takes."""
    out: dict[str, npt.NDArray[Any]] = {}
    for feature in reference.profiled:
        assert feature.kind is not None
        column = window.column(feature.column)
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pc.list_element(column, 0)  # a one-element tensor per item, e.g. shape [-1, 1]
        if pa.types.is_null(column.type):
            out[feature.column] = (
                np.full(len(column), np.nan) if feature.kind == "numeric" else np.full(len(column), None)
            )
            continue
        out[feature.column] = column_values(column, feature.kind)
    return out


def compare(
    job: DriftJob,
    reference: Reference,
    window: pa.Table,
    files: int,
    default_min_rows: int = DEFAULT_MIN_ROWS,
) -> JobResult:
    """The statistics and the HTML report of one window. Blocking: run it in a thread."""
    config = drift_config(job.thresholds)
    min_rows = min_rows_of(job.thresholds, default_min_rows)
    current = current_columns(reference, window)
    report = detect_drift(reference.profiles, current, reference.values, config)
    summary = summarize(job, reference, report, files, min_rows)
    features = feature_entries(reference, report, current)
    html = render_report(
        title=f"Drift report: {job.label}",
        summary=summary,
        features=features,
        reference=reference,
        current=current,
    )
    return JobResult(summary=summary, features=features, html=html)


def verdict(report: DriftReport, min_rows: int) -> str:
    """``insufficient_data`` below ``min_rows`` rows, else ``drift`` or ``no_drift``."""
    if report.rows < min_rows:
        return "insufficient_data"
    return "drift" if report.dataset_drift else "no_drift"


def summarize(
    job: DriftJob, reference: Reference, report: DriftReport, files: int, min_rows: int = DEFAULT_MIN_ROWS
) -> dict[str, Any]:
    summary = {key: value for key, value in report.to_dict().items() if key != "features"}
    summary["verdict"] = verdict(report, min_rows)
    summary["min_rows"] = min_rows
    if summary["verdict"] == "insufficient_data":
        summary["dataset_drift"] = None  # too few rows to say either way
    summary.update(
        model=job.model,
        version=job.version,
        window_start=job.window_start.isoformat(),
        window_end=job.window_end.isoformat(),
        files=files,
        features_checked=len(report.features),
        no_reference=[f.column for f in reference.without_reference],
        skipped=[f.column for f in reference.skipped],
        reference={"source": reference.source, "rows": reference.rows},
        shadow_rows_included=True,
    )
    return summary


def feature_entries(
    reference: Reference, report: DriftReport, current: Mapping[str, npt.NDArray[Any]] | None = None
) -> list[dict[str, Any]]:
    """One entry per signature field: drifted first, then the others checked, then those not checked.
    A checked feature's ``rows`` is how many non-null values the window had for it."""
    by_column = {f.column: f for f in reference.features}
    entries = []
    for result in report.features:
        feature = by_column[result.name]
        rows = None
        if current is not None and result.name in current:
            values = current[result.name]
            rows = int(len(values) - int(null_mask(values).sum()))
        entries.append(
            {**result.to_dict(), "rows": rows, "role": feature.role, "status": "checked", "note": ""}
        )
    for feature in reference.without_reference:
        note = f"the training data has no column {feature.column!r}"
        entries.append(_unchecked(feature.column, feature.role, feature.kind, "no_reference", note))
    for feature in reference.skipped:
        entries.append(_unchecked(feature.column, feature.role, None, "skipped", feature.note))
    return entries


def _unchecked(name: str, role: str, kind: str | None, status: str, note: str) -> dict[str, Any]:
    return {"name": name, "role": role, "kind": kind, "status": status, "note": note, "drifted": False}


async def run_job(
    store: ObjectStore, job: DriftJob, reference: Reference, default_min_rows: int = DEFAULT_MIN_ROWS
) -> JobResult:
    """Read the window and compare it with the reference (decoding and statistics off the event loop)."""
    min_rows_of(job.thresholds, default_min_rows)  # a bad threshold fails before any reading
    columns = [f.column for f in reference.profiled]
    window, files = await read_window(store, job, columns)
    return await asyncio.to_thread(compare, job, reference, window, files, default_min_rows)
