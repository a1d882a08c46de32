"""The arithmetic under schedules, on a plain clock: durations as people write them, and which windows a
cron schedule owes at a given moment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from control_plane.durations import format_duration, parse_duration
from control_plane.monitoring import MAX_COUNTED_SKIPS, check_cron, due_windows, next_fire


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800), ("1h", 3600), ("1h30m", 5400), ("86400s", 86400), ("7d", 604800), (" 2H ", 7200)],
)
def test_durations_are_read_as_written(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "1 hour", "-1h", "0s", "1.5h", "1w"])
def test_a_non_duration_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_are_shown_in_their_largest_exact_unit() -> None:
    assert [format_duration(s) for s in (3600, 5400, 86400, 61, 1800)] == ["1h", "90m", "1d", "61s", "30m"]


def test_cron_expressions_have_five_fields_or_are_an_alias() -> None:
    assert check_cron("0  *  * * *") == "0 * * * *"
    assert check_cron("@Hourly") == "@hourly"
    for bad in ("* * * *", "0 * * * * *", "60 * * * *", "@reboot", "hourly"):
        with pytest.raises(ValueError, match="cron"):
            check_cron(bad)


def test_a_cron_expression_that_never_fires_is_refused() -> None:
    assert check_cron("0 0 29 2 *") == "0 0 29 2 *"  # every leap year
    for never in ("0 0 31 2 *", "0 0 30 2 *", "0 0 31 4 *"):
        with pytest.raises(ValueError, match="never fires"):
            check_cron(never)


def test_a_window_is_owed_once_its_fire_time_has_come() -> None:
    first = next_fire("0 * * * *", t("2026-11-23T10:20:00"))
    assert first == t("2026-11-23T11:00:00")

    early = due_windows("0 * * * *", 3600, first, t("2026-11-23T10:59:59.999999"), 24)
    assert early.windows == [] and early.next_fire_at == first
    on_time = due_windows("0 * * * *", 3600, first, t("2026-11-23T11:00:00"), 24)
    assert on_time.windows == [(t("2026-11-23T10:00:00"), t("2026-11-23T11:00:00"))]
    assert on_time.next_fire_at == t("2026-11-23T12:00:00") and on_time.skipped_older == 0


def test_missed_windows_come_oldest_first_and_the_bound_keeps_the_newest() -> None:
    owed = due_windows("*/15 * * * *", 900, t("2026-11-23T10:15:00"), t("2026-11-23T11:40:00"), 3)
    assert owed.windows == [
        (t("2026-11-23T10:45:00"), t("2026-11-23T11:00:00")),
        (t("2026-11-23T11:00:00"), t("2026-11-23T11:15:00")),
        (t("2026-11-23T11:15:00"), t("2026-11-23T11:30:00")),
    ]
    assert owed.skipped_older == 3  # 10:15, 10:30, 10:45
    assert owed.next_fire_at == t("2026-11-23T11:45:00")


def test_windows_may_be_longer_than_the_period_and_cross_months() -> None:
    owed = due_windows("@daily", 7 * 86400, t("2026-12-01T00:00:00"), t("2026-12-01T06:00:00"), 24)
    assert owed.windows == [(t("2026-11-24T00:00:00"), t("2026-12-01T00:00:00"))]


def test_skipped_windows_are_counted_up_to_a_bound() -> None:
    owed = due_windows("* * * * *", 60, t("2026-11-01T00:00:00"), t("2026-11-23T00:00:00"), 24)
    assert len(owed.windows) == 24 and owed.skipped_older == MAX_COUNTED_SKIPS
    assert owed.windows[-1][1] == t("2026-11-23T00:00:00")
