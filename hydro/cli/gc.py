"""`hydro gc [--dry-run]`: delete the registry's images no model version references (an admin's command)."""

from __future__ import annotations

import click

from hydro.client import HydroClient


@click.command()
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def gc(dry_run: bool) -> None:
    """Delete the registry's images that no model version references, then say how to reclaim their disk."""
    with HydroClient.from_settings() as client:
        result = client.gc(dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    images = result.unreferenced if dry_run else result.deleted
    click.echo(f"{verb} {len(images)} unreferenced images from {result.registry} ({result.kept} kept)")
    for image in images:
        click.echo(f"  {image}")
    for failure in result.failed:
        click.echo(f"warning: {failure}", err=True)
    click.echo(result.reclaim_blobs)
