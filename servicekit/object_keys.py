"""Every key of the shared object store, built here and nowhere else (see `servicekit.object_store`).

- `models/{model}/{version}/package.tar.gz`: a version's stored package (`wire.package`), written by the
  control plane at upload, read by its builder, the scaler's process backend and Sonar;
- `reports/{model}/{version}/{report_id}.html`: a drift report's page, written by the control plane;
- `profiles/{model}/{version}/profile.json` and `reference.npz`: a version's drift reference, built once
  by Sonar from the training data inside the package;
- `samples/{model}/{version}/date=YYYY-MM-DD/hour=HH/part-{first_record_unix_ms}-{suffix}.parquet`:
  sampled traffic, written by Sonar's ingest and listed by date or hour by its drift jobs (UTC).

Build logs live in the catalog's database and training data inside the package: neither has a key.
Model names are DNS labels, so no key needs escaping.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def package_key(model: str, version: int) -> str:
    return f"models/{model}/{version}/package.tar.gz"


def drift_report_key(model: str, version: int, report_id: str) -> str:
    return f"reports/{model}/{version}/{report_id}.html"


def profile_key(model: str, version: int) -> str:
    """The features and reference profile of a version (JSON)."""
    return f"{_profiles_prefix(model, version)}profile.json"


def reference_values_key(model: str, version: int) -> str:
    """The sorted reference values of a version's numeric features (`.npz`)."""
    return f"{_profiles_prefix(model, version)}reference.npz"


def _profiles_prefix(model: str, version: int) -> str:
    return f"profiles/{model}/{version}/"


def samples_prefix(model: str, version: int) -> str:
    """All sampled traffic of a version (the trailing `/` keeps version 3 from matching 30)."""
    return f"samples/{model}/{version}/"


def samples_day_prefix(model: str, version: int, day: date) -> str:
    """The sampled traffic of one UTC day."""
    return f"{samples_prefix(model, version)}date={day:%Y-%m-%d}/"


def samples_hour_prefix(model: str, version: int, hour: datetime) -> str:
    """The sampled traffic of the UTC hour `hour` falls in (`hour` must be in UTC)."""
    return f"{samples_day_prefix(model, version, hour.date())}hour={hour:%H}/"


def sample_part_key(model: str, version: int, first_record_unix_ms: int, suffix: str) -> str:
    """A Parquet part, in the hour of its earliest record: names sort parts by time, `suffix` keeps two
    writers apart."""
    hour = datetime.fromtimestamp(first_record_unix_ms // 3_600_000 * 3600, tz=UTC)
    return f"{samples_hour_prefix(model, version, hour)}part-{first_record_unix_ms}-{suffix}.parquet"


def sample_partition_of(key: str) -> tuple[str, int, datetime] | None:
    """The (model, version, UTC hour) of a sampled-traffic key, or None for any other key."""
    parts = key.split("/")
    if len(parts) != 6 or parts[0] != "samples" or not parts[3].startswith("date="):
        return None
    if not parts[4].startswith("hour=") or not parts[2].isdigit():
        return None
    try:
        day = datetime.strptime(parts[3].removeprefix("date="), "%Y-%m-%d")
        hour = int(parts[4].removeprefix("hour="))
    except ValueError:
        return None
    if not 0 <= hour <= 23:
        return None
    return parts[1], int(parts[2]), day.replace(hour=hour, tzinfo=UTC)
