"""`hydro keys create|list|revoke APP`: an application's invoke keys."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from hydro.cli import render
from hydro.client import HydroClient


@click.group()
def keys() -> None:
    """Create, list and revoke the invoke keys of an application."""


@keys.command("create")
@click.argument("app")
def keys_create(app: str) -> None:
    """Create an invoke key for APP and print it (it is shown this once only)."""
    with HydroClient.from_settings() as client:
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
    console = render.console()
    with HydroClient.from_settings() as client:
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
    with HydroClient.from_settings() as client:
        client.revoke_invoke_key(app, key_id)
    click.echo(f"revoked invoke key {key_id} of {app}")
