"""The `hydro` command line: deploy models, list and invoke applications, run the platform.

Exit codes a script can rely on: 0 success; 1 refused by the platform or bad input, with a one-line
`error: ...` on stderr; 2 wrong usage (unknown option, missing argument), reported by click.
"""

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

from hydro.client import DriftReport, HydroClient, MonitoringSchedule
from hydro.deploy import deploy as deploy_folder
from hydro.deploy import show_invoke, upload
from hydro.errors import DriftError, HydroClientError, HydroConnectionError, HydroError
from hydro.settings import Settings


class _Cli(click.Group):
    """Turns Hydro's errors into `error: <reason>` on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HydroError as exc:
            click.echo(f"error: {_reason(exc)}", err=True)
            ctx.exit(1)


_URL_VARIABLES = "HYDRO_CONTROL_PLANE_URL and HYDRO_ROUTER_URL"


def _reason(exc: HydroError) -> str:
    message = " ".join(str(exc).split())
    if isinstance(exc, HydroConnectionError):
        return f"{message}; is the platform running? (start it with `hydro up`, or set {_URL_VARIABLES})"
    if isinstance(exc, HydroClientError) and exc.status == 401 and "invoke key" in message:
        return f"{message} (pass --key, or set HYDRO_INVOKE_KEY)"
    if isinstance(exc, HydroClientError) and exc.status == 401:
        return f"{message} (the token comes from HYDRO_TOKEN, else the file {Settings().token_file})"
    return message


def _console() -> Console:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)  # no wrapping of tables and URLs in pipes and logs
    return console


def _client() -> HydroClient:
    return HydroClient.from_settings(Settings())


def _version_key(ctx: click.Context | None, param: click.Parameter | None, value: str) -> tuple[str, int]:
    model, _, number = value.rpartition(":")
    if not model or not number.isdigit() or int(number) < 1:
        raise click.BadParameter(f"{value!r} is not MODEL:VERSION, e.g. fraud-detector:3")
    return model, int(number)


def _json_object(ctx: click.Context | None, param: click.Parameter | None, value: str) -> dict[str, Any]:
    try:
        body = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(body, dict):
        raise click.BadParameter('expected a JSON object of inputs, e.g. {"amount": [12.5]}')
    return body


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hydro", message="hydro %(version)s")
def cli() -> None:
    """Hydro: serverless model serving. Every model version is a scale-to-zero function."""


@cli.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--app", "app", metavar="NAME", help="Application to point at the new version (weight 100).")
@click.option(
    "--deployment-config",
    default="default",
    show_default=True,
    metavar="NAME",
    help="Scaling knobs to run under.",
)
@click.option("--no-wait", is_flag=True, help="Upload and return at once, without waiting for the build.")
@click.option(
    "--timeout", default=1800.0, show_default=True, metavar="SECONDS", help="Longest wait for the build."
)
def deploy(folder: Path, app: str | None, deployment_config: str, no_wait: bool, timeout: float) -> None:
    """Upload the model FOLDER as a new version and point an application at it once it is built."""
    if not no_wait and not app:
        raise click.UsageError("missing option '--app' (the application to point at the new version)")
    console = _console()
    settings = Settings()
    with HydroClient.from_settings(settings) as client:
        if no_wait:
            accepted = upload(client, folder, console=console)
            key = f"{accepted.model}:{accepted.version}"
            console.print(
                f"follow the build with `hydro logs {key}`; an application can point at it once released"
            )
            return
        assert app is not None
        deployed = deploy_folder(
            client, folder, app=app, deployment_config=deployment_config, console=console, timeout_s=timeout
        )
        show_invoke(console, deployed.application, deployed.version.signature, settings.router_url)


@cli.command()
@click.argument("model", required=False)
def models(model: str | None) -> None:
    """List the models, or with MODEL, that model's versions."""
    console = _console()
    with _client() as client:
        if model is None:
            table = Table("MODEL", "VERSIONS", "LATEST", "STATUS", box=None)
            for m in client.models():
                latest = "-" if m.latest_version is None else str(m.latest_version)
                table.add_row(m.name, str(m.versions), latest, _status(m.latest_status))
        else:
            table = Table("VERSION", "STATUS", "IMAGE", "CREATED", "ERROR", box=None)
            for v in client.versions(model):
                table.add_row(
                    v.key,
                    _status(v.status),
                    escape(v.image or "-"),
                    v.created_at or "-",
                    escape(_one_line(v.error or "")),
                )
    console.print(table)


@cli.command()
def apps() -> None:
    """List the applications: their variants, weights, replicas (ready/desired) and invoke URL."""
    console = _console()
    with _client() as client:
        applications = client.applications()
    table = Table("APP", "STAGE", "VARIANT", "WEIGHT", "CONFIG", "REPLICAS", "INVOKE URL", box=None)
    for application in applications:
        url = application.invoke_urls.get("http", "-")
        for s, stage in enumerate(application.stages):
            for variant in stage:
                replicas = (
                    "?"
                    if variant.replicas is None
                    else f"{variant.replicas.ready}/{variant.replicas.desired}"
                )
                table.add_row(
                    application.name,
                    str(s),
                    f"{variant.model}:{variant.version}",
                    str(variant.weight),
                    variant.deployment_config,
                    replicas,
                    url,
                )
                url = ""
    console.print(table)


@cli.command()
@click.argument("app")
@click.option(
    "--json",
    "inputs",
    required=True,
    callback=_json_object,
    metavar="JSON",
    help='The inputs as a JSON object, e.g. \'{"amount": [12.5], "country": ["DE"]}\'.',
)
@click.option(
    "--key",
    envvar="HYDRO_INVOKE_KEY",
    metavar="KEY",
    help="The application's invoke key, when it requires one (default: HYDRO_INVOKE_KEY).",
)
def invoke(app: str, inputs: dict[str, Any], key: str | None) -> None:
    """Call application APP through the router and print its JSON answer."""
    with _client() as client:
        answer = client.invoke(app, inputs, key=key or None)
    click.echo(json.dumps(answer))


@cli.group()
def keys() -> None:
    """Create, list and revoke the invoke keys of an application."""


@keys.command("create")
@click.argument("app")
def keys_create(app: str) -> None:
    """Create an invoke key for APP and print it (it is shown this once only)."""
    with _client() as client:
        created = client.create_invoke_key(app)
    click.echo(created.key)
    click.echo(
        f"invoke key {created.id} of {app} (shown once; store it now). "
        "Call with `Authorization: Bearer <key>` or `hydro invoke --key`.",
        err=True,
    )


@keys.command("list")
@click.argument("app")
def keys_list(app: str) -> None:
    """List the invoke keys of APP (their ids and prefixes, never the keys)."""
    console = _console()
    with _client() as client:
        listed = client.invoke_keys(app)
    table = Table("ID", "PREFIX", "CREATED", box=None)
    for key in listed:
        table.add_row(key.id, escape(key.prefix + "..."), key.created_at or "-")
    console.print(table)


@keys.command("revoke")
@click.argument("app")
@click.argument("key_id", metavar="ID")
def keys_revoke(app: str, key_id: str) -> None:
    """Revoke invoke key ID of APP; routers refuse it at once."""
    with _client() as client:
        client.revoke_invoke_key(app, key_id)
    click.echo(f"revoked invoke key {key_id} of {app}")


@cli.command()
@click.argument("version", metavar="MODEL:N", callback=_version_key)
def logs(version: tuple[str, int]) -> None:
    """Print the build log of a model version."""
    with _client() as client:
        text = client.version_logs(*version)
    click.echo(text, nl=not text.endswith("\n"))


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


@cli.command()
@click.argument("version", metavar="MODEL:N", callback=_version_key)
@click.option("--cron", metavar="EXPR", help="When to run, in UTC, e.g. '0 * * * *' (hourly) or @daily.")
@click.option("--window", metavar="DURATION", help="How much traffic each report covers, e.g. 1h, 30m, 1d.")
@click.option(
    "--threshold",
    "thresholds",
    multiple=True,
    callback=_thresholds,
    metavar="METHOD=NUMBER",
    help="Override a drift threshold (repeatable): ks_pvalue, chi2_pvalue, psi, wasserstein, jensenshannon, "
    "null_share, drift_share.",
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
    with _client() as client:
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
    _console().print(table)


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


@cli.group()
def drift() -> None:
    """Drift reports: start one by hand, list a version's, show one."""


@drift.command("run")
@click.argument("version", metavar="MODEL:N", callback=_version_key)
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
    console = _console()
    with _client() as client:
        report = client.run_drift(*version, since=since, start=start, end=end)
        console.print(
            f"started drift report [bold]{report.id}[/] of {escape(report.key)} over "
            f"{report.window_start} .. {report.window_end} ({_status(report.status)})"
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
    _show_report(console, report)
    if report.status == "failed":
        raise DriftError(f"drift report {report.id} failed: {report.error or 'no reason given'}")


@drift.command("list")
@click.argument("version", metavar="MODEL:N", callback=_version_key)
@click.option(
    "--limit", default=20, show_default=True, type=click.IntRange(1, 500), help="How many, newest first."
)
def drift_list(version: tuple[str, int], limit: int) -> None:
    """List the drift reports of MODEL:N, newest first."""
    with _client() as client:
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
            _status(report.status),
            _verdict(report),
            escape(_one_line(", ".join(str(name) for name in _drifted(report)) or "-")),
        )
    _console().print(table)


@drift.command("show")
@click.argument("report_id", metavar="ID")
@click.option(
    "--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Save the HTML here."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of tables.")
def drift_show(report_id: str, html_file: Path | None, as_json: bool) -> None:
    """Show drift report ID: its window, verdict and per-feature results."""
    with _client() as client:
        report = client.drift_report(report_id)
        page = client.drift_report_html(report_id) if html_file is not None else None
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(report), indent=2))
    else:
        _show_report(_console(), report)
    if html_file is not None and page is not None:
        html_file.write_text(page, encoding="utf-8")
        click.echo(f"wrote the HTML report to {html_file}", err=True)


def _show_report(console: Console, report: DriftReport) -> None:
    head = Table(box=None, show_header=False)
    head.add_row("report", report.id)
    head.add_row("version", escape(report.key))
    head.add_row("window", f"{report.window_start} .. {report.window_end}")
    head.add_row("trigger", report.trigger)
    head.add_row("status", _status(report.status))
    head.add_row("drift", _verdict(report))
    for key, value in (report.summary or {}).items():
        if not isinstance(value, dict | list):
            head.add_row(escape(str(key)), escape(_cell(value)))
    if report.error:
        head.add_row("error", escape(_one_line(report.error)))
    if report.html_url:
        head.add_row("html", escape(report.html_url))
    console.print(head)
    if not report.features:
        return
    columns = ["name", "kind", "method", "score", "threshold", "p_value", "drifted"]
    present = [c for c in columns if any(c in feature for feature in report.features)]
    table = Table(*[c.replace("_", "-").upper() for c in present], box=None)
    ordered = sorted(report.features, key=lambda f: not f.get("drifted", False))
    for feature in ordered:
        table.add_row(*[_feature_cell(c, feature.get(c)) for c in present])
    console.print(table)


def _feature_cell(column: str, value: Any) -> str:
    if column == "drifted":
        return "[red]yes[/]" if value else "no"
    return escape(_cell(value))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _verdict(report: DriftReport) -> str:
    summary = report.summary or {}
    drifted = summary.get("dataset_drift")
    if drifted is None:
        return "-"
    share = summary.get("share_drifted")
    share_text = f" ({share:.0%} of features)" if isinstance(share, int | float) else ""
    return ("[red]drift[/]" if drifted else "[green]no drift[/]") + share_text


def _drifted(report: DriftReport) -> list[Any]:
    names = (report.summary or {}).get("drifted_features")
    return list(names) if isinstance(names, list) else []


@cli.command()
@click.option("--example", is_flag=True, help="Also deploy the numpy example model as application 'demo'.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
    help="Level of the services' logs (on stderr).",
)
def up(example: bool, log_level: str) -> None:
    """Run the whole platform in this process on its embedded defaults, until Ctrl-C."""
    from hydro.launcher import run

    run(example=example, console=_console(), log_level=log_level)


@cli.command("control-plane")
def control_plane() -> None:
    """Run the control plane alone (REST API, UI and the catalog watch)."""
    from control_plane.server import serve
    from control_plane.settings import Settings as ControlPlaneSettings
    from servicekit.serving import run_service

    run_service("control plane", lambda: serve(ControlPlaneSettings()))


@cli.command()
def router() -> None:
    """Run the router alone (HTTP and gRPC invoke)."""
    from router.server import serve
    from router.settings import Settings as RouterSettings
    from servicekit.serving import run_service

    run_service("router", lambda: serve(RouterSettings()))


@cli.command()
def scaler() -> None:
    """Run the scaler alone (replicas per version)."""
    from scaler.server import serve
    from scaler.settings import Settings as ScalerSettings
    from servicekit.serving import run_service

    run_service("scaler", lambda: serve(ScalerSettings()))


@cli.command()
def sonar() -> None:
    """Run Sonar alone (ingest of sampled traffic, Parquet samples, drift jobs)."""
    from servicekit.serving import run_service
    from sonar.server import serve
    from sonar.settings import Settings as SonarSettings

    run_service("sonar", lambda: serve(SonarSettings()))


def _status(status: str | None) -> str:
    colors = {
        "released": "green",
        "done": "green",
        "failed": "red",
        "building": "yellow",
        "pending": "yellow",
        "running": "yellow",
    }
    return "-" if status is None else f"[{colors.get(status, 'white')}]{status}[/]"


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def main() -> None:
    """The `hydro` console script."""
    cli(prog_name="hydro")


if __name__ == "__main__":
    main()
