"""Where each thing lives in the object store: one layout, that every service builds the same way."""

from __future__ import annotations

from datetime import UTC, date, datetime

from servicekit.object_keys import (
    drift_report_key,
    package_key,
    profile_key,
    reference_values_key,
    sample_part_key,
    samples_day_prefix,
    samples_hour_prefix,
    samples_prefix,
)


def test_a_version_keeps_its_package_report_pages_and_reference_under_its_name_and_number() -> None:
    assert package_key("fraud-detector", 3) == "models/fraud-detector/3/package.tar.gz"
    assert drift_report_key("fraud-detector", 3, "ab12") == "reports/fraud-detector/3/ab12.html"
    assert profile_key("fraud-detector", 3) == "profiles/fraud-detector/3/profile.json"
    assert reference_values_key("fraud-detector", 3) == "profiles/fraud-detector/3/reference.npz"


def test_sampled_traffic_is_partitioned_by_utc_day_and_hour() -> None:
    assert samples_prefix("m", 3) == "samples/m/3/"
    assert not samples_prefix("m", 30).startswith(samples_prefix("m", 3))
    assert samples_day_prefix("m", 3, date(2026, 11, 23)) == "samples/m/3/date=2026-11-23/"
    hour = datetime(2026, 11, 23, 7, tzinfo=UTC)
    assert samples_hour_prefix("m", 3, hour) == "samples/m/3/date=2026-11-23/hour=07/"


def test_a_part_lands_in_the_hour_of_its_first_record_and_sorts_by_time() -> None:
    last_ms_of_a_day = int(datetime(2026, 11, 23, 23, 59, 59, 999_000, tzinfo=UTC).timestamp() * 1000)
    late = sample_part_key("m", 3, last_ms_of_a_day, "00ff")
    assert late == f"samples/m/3/date=2026-11-23/hour=23/part-{last_ms_of_a_day}-00ff.parquet"
    next_day = sample_part_key("m", 3, last_ms_of_a_day + 1, "00ff")
    assert next_day.startswith("samples/m/3/date=2026-11-24/hour=00/")
    assert sample_part_key("m", 3, 1_000, "ffff") < sample_part_key("m", 3, 2_000, "0000")
