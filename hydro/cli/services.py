"""`hydro up` (the whole platform in one process) and `hydro control-plane|router|scaler|sonar` (one
service alone). The services are imported only when one of these runs."""

from __future__ import annotations

import click

from hydro.cli import render


@click.command()
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

    run(example=example, console=render.console(), log_level=log_level)


@click.command("control-plane")
def control_plane() -> None:
    """Run the control plane alone (REST API, UI and the catalog watch)."""
    from control_plane.server import serve
    from control_plane.settings import Settings as ControlPlaneSettings
    from servicekit.serving import run_service

    run_service("control plane", ControlPlaneSettings, serve)


@click.command()
def router() -> None:
    """Run the router alone (HTTP and gRPC invoke)."""
    from router.server import serve
    from router.settings import Settings as RouterSettings
    from servicekit.serving import run_service

    run_service("router", RouterSettings, serve)


@click.command()
def scaler() -> None:
    """Run the scaler alone (replicas per version)."""
    from scaler.server import serve
    from scaler.settings import Settings as ScalerSettings
    from servicekit.serving import run_service

    run_service("scaler", ScalerSettings, serve)


@click.command()
def sonar() -> None:
    """Run Sonar alone (ingest of sampled traffic, Parquet samples, drift jobs)."""
    from servicekit.serving import run_service
    from sonar.server import serve
    from sonar.settings import Settings as SonarSettings

    run_service("sonar", SonarSettings, serve)
