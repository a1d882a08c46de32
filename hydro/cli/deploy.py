"""`hydro deploy FOLDER --app NAME`: upload a model folder as a new version and point an app at it."""

from __future__ import annotations

from pathlib import Path

import click

from hydro.cli import render
from hydro.client import HydroClient
from hydro.deploy import deploy as deploy_folder
from hydro.deploy import show_invoke, upload
from hydro.settings import Settings
from servicekit.settings import load


@click.command()
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
    console = render.console()
    settings = load(Settings)
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
        show_invoke(
            console,
            deployed.application,
            deployed.version.signature,
            settings.router_url,
            ca_file=settings.tls_ca_file,
        )
