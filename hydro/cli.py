"""The `hydro` command line: deploy models, list and invoke applications, run the platform.

Exit codes a script can rely on: 0 success; 1 refused by the platform or bad input, with a one-line
`error: ...` on stderr; 2 wrong usage (unknown option, missing argument), reported by click.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hydro.client import HydroClient
from hydro.deploy import deploy as deploy_folder
from hydro.deploy import show_invoke, upload
from hydro.errors import HydroClientError, HydroConnectionError, HydroError
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
    from protos.serving import run_service

    run_service("control plane", lambda: serve(ControlPlaneSettings()))


@cli.command()
def router() -> None:
    """Run the router alone (HTTP and gRPC invoke)."""
    from protos.serving import run_service
    from router.server import serve
    from router.settings import Settings as RouterSettings

    run_service("router", lambda: serve(RouterSettings()))


@cli.command()
def scaler() -> None:
    """Run the scaler alone (replicas per version)."""
    from protos.serving import run_service
    from scaler.server import serve
    from scaler.settings import Settings as ScalerSettings

    run_service("scaler", lambda: serve(ScalerSettings()))


def _status(status: str | None) -> str:
    colors = {"released": "green", "failed": "red", "building": "yellow", "pending": "yellow"}
    return "-" if status is None else f"[{colors.get(status, 'white')}]{status}[/]"


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 80 else text[:77] + "..."


def main() -> None:
    """The `hydro` console script."""
    cli(prog_name="hydro")


if __name__ == "__main__":
    main()
