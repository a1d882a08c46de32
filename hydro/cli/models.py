"""`hydro models [MODEL]`, `hydro models delete MODEL[:N]`, `hydro models retention MODEL` and `hydro logs
MODEL:N`: what has been uploaded, how its build went, deleting it, and how long its sampled traffic stays."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from hydro.cli import render
from hydro.cli.arguments import version_key
from hydro.cli.groups import ListingGroup
from hydro.client import HydroClient
from hydro.resources import Deleted


@click.group(cls=ListingGroup)
def models() -> None:
    """List the models (`hydro models`), a model's versions (`hydro models MODEL`), delete them, or set how
    long their sampled traffic is kept."""


@models.command("list")
@click.argument("model", required=False)
def models_list(model: str | None) -> None:
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


@models.command("delete")
@click.argument("target", metavar="MODEL[:N]")
@click.option(
    "--purge", is_flag=True, help="Also delete the sampled traffic and drift reports (and the name)."
)
def models_delete(target: str, purge: bool) -> None:
    """Delete version N of MODEL, or every version of MODEL. Refused while an application uses it."""
    with HydroClient.from_settings() as client:
        if ":" in target:
            model, version = version_key(None, None, target)
            deleted = client.delete_version(model, version, purge=purge)
        else:
            deleted = client.delete_model(target, purge=purge)
    report(deleted)


@models.command("retention")
@click.argument("model")
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True, max=3650),
    help="Keep this many days of the model's sampled traffic.",
)
@click.option(
    "--default", "default", is_flag=True, help="Keep Sonar's default (HYDRO_SAMPLE_RETENTION_DAYS)."
)
def models_retention(model: str, days: float | None, default: bool) -> None:
    """Show, or with --days / --default set, how many days of MODEL's sampled traffic Sonar keeps."""
    if days is not None and default:
        raise click.UsageError("give --days N or --default, not both")
    with HydroClient.from_settings() as client:
        if days is not None or default:
            kept = client.set_retention(model, days)
        else:
            kept = client.retention(model)
    click.echo(
        f"{model}: " + (f"{kept:g} days of sampled traffic kept" if kept is not None else "Sonar's default")
    )


def report(deleted: Deleted) -> None:
    """Say what went (stdout) and what could not be removed (stderr, exit code 0: the rows are gone)."""
    click.echo(
        f"deleted {', '.join(deleted.versions) or 'no versions'}: {deleted.objects} stored objects, "
        f"{len(deleted.images)} images, {deleted.drift_reports} drift reports, {deleted.samples} sample parts"
    )
    for image in deleted.images:
        click.echo(f"  image {image}")
    for failure in deleted.failed:
        click.echo(f"warning: not removed: {failure}", err=True)


@click.command()
@click.argument("version", metavar="MODEL:N", callback=version_key)
@click.option("--follow", "-f", is_flag=True, help="Keep printing the log as it grows, until the build ends.")
def logs(version: tuple[str, int], follow: bool) -> None:
    """Print the build log of a model version."""
    with HydroClient.from_settings() as client:
        if follow:
            text = ""
            for text in client.follow_version_logs(*version):
                click.echo(text, nl=False)
            if text and not text.endswith("\n"):
                click.echo()
            return
        text = client.version_logs(*version)
    click.echo(text, nl=not text.endswith("\n"))
