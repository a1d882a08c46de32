"""`hydro configs list|show|set|delete`: deployment configs, the named scaling knobs variants run under."""

from __future__ import annotations

import json

import click
from rich.table import Table

from hydro.cli import render
from hydro.client import HydroClient

COLUMNS = ("min_replicas", "max_replicas", "target_concurrency", "container_concurrency", "cpu", "memory_mb")


@click.group()
def configs() -> None:
    """List, show, set and delete deployment configs (`default` always exists and cannot be deleted)."""


@configs.command("list")
def configs_list() -> None:
    """List the deployment configs and their main knobs."""
    console = render.console()
    with HydroClient.from_settings() as client:
        listed = client.deployment_configs()
    table = Table("NAME", *(column.upper() for column in COLUMNS), box=None)
    for config in listed:
        table.add_row(str(config["name"]), *(render.cell(config.get(column)) for column in COLUMNS))
    console.print(table)


@configs.command("show")
@click.argument("name")
def configs_show(name: str) -> None:
    """Print the deployment config NAME, every knob, as JSON."""
    with HydroClient.from_settings() as client:
        config = client.deployment_config(name)
    click.echo(json.dumps(config, indent=2))


@configs.command("set")
@click.argument("name")
@click.argument("knobs", nargs=-1, metavar="KEY=VALUE...")
def configs_set(name: str, knobs: tuple[str, ...]) -> None:
    """Create or replace the config NAME; knobs left out take their defaults (e.g. min_replicas=1)."""
    body: dict[str, object] = {}
    for item in knobs:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE, e.g. max_replicas=4", param_hint="KNOBS")
        try:
            body[key] = json.loads(raw)
        except json.JSONDecodeError:
            raise click.BadParameter(f"{item!r}: the value must be a number", param_hint="KNOBS") from None
    with HydroClient.from_settings() as client:
        config = client.put_deployment_config(name, body)
    click.echo(json.dumps(config, indent=2))


@configs.command("delete")
@click.argument("name")
def configs_delete(name: str) -> None:
    """Delete the config NAME; refused while an application's variant uses it."""
    with HydroClient.from_settings() as client:
        client.delete_deployment_config(name)
    click.echo(f"deleted deployment config {name}")
