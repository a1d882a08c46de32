"""`hydro monitor MODEL:N`: show or set when Sonar computes the version's drift reports."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from hydro.cli import render
from hydro.cli.arguments import version_key
from hydro.client import HydroClient, MonitoringSchedule
from hydro.errors import DriftError, HydroClientError


def _thresholds(
    ctx: click.Context | None, param: click.Parameter | None, values: tuple[str, ...]
) -> dict[str, float] | None:
    if not values:
        return None
    out: dict[str, float] = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise click.BadParameter(f"{value!r} is not METHOD=NUMBER, e.g. psi=0.2 or ks_pvalue=0.01")
    return out


@click.command()
@click.argument("version", metavar="MODEL:N", callback=version_key)
@click.option("--cron", metavar="EXPR", help="When to run, in UTC, e.g. '0 * * * *' (hourly) or @daily.")
@click.option("--window", metavar="DURATION", help="How much traffic each report covers, e.g. 1h, 30m, 1d.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=_thresholds,
    metavar="METHOD=NUMBER",
    help="Override a drift threshold (repeatable): ks_pvalue, chi2_pvalue, psi, wasserstein, jensenshannon, "
    "null_share, drift_share; min_rows (fewest rows for a verdict, else insufficient data).",
)
@click.option(
    "--correction",
    type=click.Choice(["benjamini-hochberg", "bonferroni", "none"]),
    help="Multiple-testing correction of the KS / chi-square p-values (default benjamini-hochberg).",
)
@click.option("--max-catch-up", type=click.IntRange(1, 1000), help="Most missed windows run after an outage.")
@click.option("--off", is_flag=True, help="Turn the schedule off (keeps its settings).")
def monitor(
    version: tuple[str, int],
    cron: str | None,
    window: str | None,
    thresholds: dict[str, float] | None,
    correction: str | None,
    max_catch_up: int | None,
    off: bool,
) -> None:
    """Schedule drift reports of MODEL:N (or with no option, show its schedule).

    Each run compares the traffic of the window that just ended with the version's training data.
    Options left out keep the current schedule's values.
    """
    model, number = version
    changing = off or any(value is not None for value in (cron, window, thresholds, correction, max_catch_up))
    with HydroClient.from_settings() as client:
        current = _current_schedule(client, model, number, required=not changing or off)
        if changing:
            cron = cron or (current.cron if current else None)
            window = window or (current.window if current else None)
            if cron is None or window is None:
                raise click.UsageError("a new schedule needs both --cron and --window")
            kept: dict[str, Any] = dict(current.thresholds) if current else {}
            if thresholds is not None:  # new numbers replace the old ones; the correction stays unless given
                kept = {k: v for k, v in kept.items() if k == "correction"} | thresholds
            if correction is not None:
                kept["correction"] = correction
            current = client.put_monitoring(
                model,
                number,
                cron=cron,
                window=window,
                thresholds=kept,
                enabled=not off,
                max_catch_up=max_catch_up or (current.max_catch_up if current else 24),
            )
    assert current is not None
    table = Table(
        "VERSION", "CRON (UTC)", "WINDOW", "STATE", "NEXT RUN", "MAX CATCH-UP", "THRESHOLDS", box=None
    )
    table.add_row(
        f"{current.model}:{current.version}",
        escape(current.cron),
        current.window,
        "[green]on[/]" if current.enabled else "[yellow]off[/]",
        current.next_run_at or "-",
        str(current.max_catch_up),
        escape(", ".join(f"{k}={_threshold(v)}" for k, v in current.thresholds.items()) or "defaults"),
    )
    render.console().print(table)


def _threshold(value: Any) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _current_schedule(
    client: HydroClient, model: str, number: int, *, required: bool
) -> MonitoringSchedule | None:
    try:
        return client.monitoring(model, number)
    except HydroClientError as exc:
        if exc.status != 404 or "no monitoring schedule" not in exc.message:
            raise
        if required:
            raise DriftError(
                f"{model}:{number} has no monitoring schedule; set one with "
                f"`hydro monitor {model}:{number} --cron '0 * * * *' --window 1h`"
            ) from None
        return None
