"""`hydro models [MODEL]` and `hydro logs MODEL:N`: what has been uploaded and how its build went."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from hydro.cli import render
from hydro.cli.arguments import version_key
from hydro.client import HydroClient


@click.command()
@click.argument("model", required=False)
def models(model: str | None) -> None:
    """List the models, or with MODEL, that model's versions."""
    console = render.console()
    with HydroClient.from_settings() as client:
        if model is None:
            table = Table("MODEL", "VERSIONS", "LATEST", "STATUS", box=None)
            for m in client.models():
                latest = "-" if m.latest_version is None else str(m.latest_version)
                table.add_row(m.name, str(m.versions), latest, render.status(m.latest_status))
        else:
            table = Table("VERSION", "STATUS", "IMAGE", "CREATED", "ERROR", box=None)
            for v in client.versions(model):
                table.add_row(
                    v.key,
                    render.status(v.status),
                    escape(v.image or "-"),
                    v.created_at or "-",
                    escape(render.one_line(v.error or "")),
                )
    console.print(table)


@click.command()
@click.argument("version", metavar="MODEL:N", callback=version_key)
def logs(version: tuple[str, int]) -> None:
    """Print the build log of a model version."""
    with HydroClient.from_settings() as client:
        text = client.version_logs(*version)
    click.echo(text, nl=not text.endswith("\n"))
