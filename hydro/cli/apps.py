"""`hydro apps [list]`: the applications, their variants, weights, replicas and invoke URL;
`hydro apps delete APP`."""

from __future__ import annotations

import click
from rich.table import Table

from hydro.cli import render
from hydro.cli.groups import ListingGroup
from hydro.client import HydroClient


@click.group(cls=ListingGroup)
def apps() -> None:
    """List the applications (`hydro apps`), or delete one."""


@apps.command("delete")
@click.argument("app")
def apps_delete(app: str) -> None:
    """Delete the application APP: the router stops serving it; its versions stay (delete them after)."""
    with HydroClient.from_settings() as client:
        client.delete_application(app)
    click.echo(f"deleted application {app}")


@apps.command("list")
def apps_list() -> None:
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
