"""`hydro audit`: the audit trail of write calls, newest first (an admin token's command)."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from hydro.cli import render
from hydro.client import HydroClient


@click.command()
@click.option("--limit", type=click.IntRange(1, 500), default=50, show_default=True, help="Events to show.")
@click.option("--before", type=click.IntRange(min=1), default=None, help="Show events older than this id.")
def audit(limit: int, before: int | None) -> None:
    """Show who changed what and when: every write call, refused ones included, newest first."""
    console = render.console()
    with HydroClient.from_settings() as client:
        page = client.audit(limit=limit, before=before)
    table = Table("ID", "AT", "TOKEN", "ROLE", "CALL", "STATUS", "ERROR", box=None)
    for event in page.events:
        table.add_row(
            str(event.id),
            event.at,
            escape(event.token or "-"),
            event.role or "-",
            escape(f"{event.method} {event.path}"),
            str(event.status),
            escape(render.one_line(event.error or "")),
        )
    console.print(table)
    if page.next is not None:
        click.echo(f"older events: hydro audit --before {page.next}", err=True)
