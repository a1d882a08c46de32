"""`hydro drift run|list|show`: start a drift report by hand, list a version's, show one."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hydro.cli import render
from hydro.cli.arguments import version_key
from hydro.client import DriftReport, HydroClient
from hydro.errors import DriftError

FEATURE_COLUMNS = ("name", "kind", "rows", "method", "score", "threshold", "p_value", "drifted")


@click.group()
def drift() -> None:
    """Drift reports: start one by hand, list a version's, show one."""


@drift.command("run")
@click.argument("version", metavar="MODEL:N", callback=version_key)
@click.option("--since", metavar="DURATION", help="The window ends now and reaches back this far, e.g. 1h.")
@click.option("--start", metavar="TIME", help="Window start, ISO-8601 with a timezone (with --end).")
@click.option("--end", metavar="TIME", help="Window end, ISO-8601 with a timezone (with --start).")
@click.option("--wait", is_flag=True, help="Wait until a Sonar worker has finished the report, then show it.")
@click.option(
    "--timeout", default=600.0, show_default=True, metavar="SECONDS", help="Longest wait with --wait."
)
def drift_run(
    version: tuple[str, int],
    since: str | None,
    start: str | None,
    end: str | None,
    wait: bool,
    timeout: float,
) -> None:
    """Start a drift report of MODEL:N over a window of its traffic; a Sonar worker computes it."""
    if since is None and (start is None or end is None):
        raise click.UsageError("give the window as --since DURATION, or as --start TIME --end TIME")
    if since is not None and (start is not None or end is not None):
        raise click.UsageError("give either --since or --start/--end, not both")
    console = render.console()
    with HydroClient.from_settings() as client:
        report = client.run_drift(*version, since=since, start=start, end=end)
        console.print(
            f"started drift report [bold]{report.id}[/] of {escape(report.key)} over "
            f"{report.window_start} .. {report.window_end} ({render.status(report.status)})"
        )
        if not wait:
            console.print(f"see it with `hydro drift show {report.id}`")
            return
        deadline = time.monotonic() + timeout
        while not report.finished:
            if time.monotonic() > deadline:
                raise DriftError(f"drift report {report.id} is still {report.status} after {timeout:g} s")
            time.sleep(1.0)
            report = client.drift_report(report.id)
    show_report(console, report)
    if report.status == "failed":
        raise DriftError(f"drift report {report.id} failed: {report.error or 'no reason given'}")


@drift.command("list")
@click.argument("version", metavar="MODEL:N", callback=version_key)
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 500), help="How many, newest first."
)
def drift_list(version: tuple[str, int], limit: int) -> None:
    """List the drift reports of MODEL:N, newest first."""
    with HydroClient.from_settings() as client:
        listed = client.drift_reports(*version, limit=limit)
    table = Table(
        "ID", "WINDOW START", "WINDOW END", "TRIGGER", "STATUS", "DRIFT", "DRIFTED FEATURES", box=None
    )
    for report in listed:
        table.add_row(
            report.id,
            report.window_start,
            report.window_end,
            report.trigger,
            render.status(report.status),
            _verdict(report),
            escape(render.one_line(", ".join(str(name) for name in _drifted(report)) or "-")),
        )
    render.console().print(table)


@drift.command("show")
@click.argument("report_id", metavar="ID")
@click.option(
    "--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Save the HTML here."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
def drift_show(report_id: str, html_file: Path | None, as_json: bool) -> None:
    """Show drift report ID: its window, verdict and per-feature results."""
    with HydroClient.from_settings() as client:
        report = client.drift_report(report_id)
        page = client.drift_report_html(report_id) if html_file is not None else None
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        show_report(render.console(), report)
    if html_file is not None and page is not None:
        html_file.write_text(page, encoding="utf-8")
        click.echo(f"wrote the HTML report to {html_file}", err=True)


def show_report(console: Console, report: DriftReport) -> None:
    """A report as two tables: its head (window, verdict, summary) and its features, drifted first."""
    head = Table(box=None, show_header=False)
    head.add_row("report", report.id)
    head.add_row("version", escape(report.key))
    head.add_row("window", f"{report.window_start} .. {report.window_end}")
    head.add_row("trigger", report.trigger)
    head.add_row("status", render.status(report.status))
    head.add_row("drift", _verdict(report))
    for key, value in (report.summary or {}).items():
        if not isinstance(value, dict | list):
            head.add_row(escape(str(key)), escape(render.cell(value)))
    if report.error:
        head.add_row("error", escape(render.one_line(report.error)))
    if report.html_url:
        head.add_row("html", escape(report.html_url))
    console.print(head)
    if not report.features:
        return
    present = [c for c in FEATURE_COLUMNS if any(c in feature for feature in report.features)]
    table = Table(*[c.replace("_", "-").upper() for c in present], box=None)
    ordered = sorted(report.features, key=lambda f: not f.get("drifted", False))
    for feature in ordered:
        table.add_row(*[_feature_cell(c, feature.get(c)) for c in present])
    console.print(table)


def _feature_cell(column: str, value: Any) -> str:
    if column == "drifted":
        return "[red]yes[/]" if value else "no"
    return escape(render.cell(value))


def _verdict(report: DriftReport) -> str:
    summary = report.summary or {}
    if summary.get("verdict") == "insufficient_data":
        rows, needed = summary.get("rows", 0), summary.get("min_rows")
        return f"[yellow]insufficient data[/] ({rows} rows, fewer than {needed})"
    drifted = summary.get("dataset_drift")
    if drifted is None:
        return "-"
    share = summary.get("share_drifted")
    share_text = f" ({share:.0%} of features)" if isinstance(share, int | float) else ""
    return ("[red]drift[/]" if drifted else "[green]no drift[/]") + share_text


def _drifted(report: DriftReport) -> list[Any]:
    names = (report.summary or {}).get("drifted_features")
    return list(names) if isinstance(names, list) else []
