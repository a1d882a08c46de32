"""`hydro tokens create|list|revoke`: API tokens and their roles (an admin token's commands)."""

from __future__ import annotations

import click
from rich.table import Table

from hydro.cli import render
from hydro.client import HydroClient

ROLES = ("viewer", "deployer", "admin")


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens: viewer (reads), deployer (versions, applications, configs,
    monitoring, invoke keys) or admin (everything, tokens and the audit trail too)."""


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the token may do.")
def tokens_create(name: str, role: str) -> None:
    """Create the API token NAME with ROLE and print it (it is shown this once only)."""
    with HydroClient.from_settings() as client:
        created = client.create_token(name, role)
    click.echo(created.token)
    click.echo(
        f"{created.role} token {created.name} (shown once; store it now). Use it as HYDRO_TOKEN.", err=True
    )


@tokens.command("list")
def tokens_list() -> None:
    """List the API tokens: their names, roles and creation times, never the tokens."""
    console = render.console()
    with HydroClient.from_settings() as client:
        listed = client.tokens()
    table = Table("NAME", "ROLE", "CREATED", box=None)
    for token in listed:
        table.add_row(token.name, token.role, token.created_at or "-")
    console.print(table)


@tokens.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke the API token NAME; the control plane refuses it from the next call on."""
    with HydroClient.from_settings() as client:
        client.revoke_token(name)
    click.echo(f"revoked token {name}")
