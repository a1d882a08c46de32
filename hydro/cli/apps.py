"""`hydro apps`: the applications, their variants, weights, replicas and invoke URL."""

from __future__ import annotations

import click
from rich.table import Table

from hydro.cli import render
from hydro.client import HydroClient


@click.command()
def apps() -> None:
    """List the applications: their variants, weights, replicas (ready/desired) and invoke URL."""
    console = render.console()
    with HydroClient.from_settings() as client:
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
