"""`hydro apps [list]`: the applications, their variants, weights, replicas, Kafka lag and invoke URL;
`hydro apps kafka APP ...` sets or removes an application's Kafka endpoint; `hydro apps delete APP`."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from hydro.cli import render
from hydro.cli.groups import ListingGroup
from hydro.client import HydroClient
from hydro.resources import Application, KafkaEndpoint


@click.group(cls=ListingGroup)
def apps() -> None:
    """List the applications (`hydro apps`), set their Kafka endpoint, or delete one."""


@apps.command("delete")
@click.argument("app")
def apps_delete(app: str) -> None:
    """Delete the application APP: the router stops serving it; its versions stay (delete them after)."""
    with HydroClient.from_settings() as client:
        client.delete_application(app)
    click.echo(f"deleted application {app}")


@apps.command("kafka")
@click.argument("app")
@click.option("--source", metavar="TOPIC", help="Topic the application reads requests from.")
@click.option("--destination", metavar="TOPIC", help="Topic its answers go to.")
@click.option("--error", metavar="TOPIC", help="Topic of the messages it cannot serve (required).")
@click.option("--group", metavar="GROUP", help="Consumer group (default: hydro.APP).")
@click.option("--off", is_flag=True, help="Remove the application's Kafka endpoint.")
def apps_kafka(
    app: str,
    source: str | None,
    destination: str | None,
    error: str | None,
    group: str | None,
    off: bool,
) -> None:
    """Serve APP from Kafka: read --source, answer to --destination, send failures to --error; or stop
    with --off. The rest of the application stays as it is."""
    if off:
        given = {"--source": source, "--destination": destination, "--error": error, "--group": group}
        extra = [option for option, value in given.items() if value is not None]
        if extra:
            raise click.UsageError(f"--off takes no topics or group (got {', '.join(extra)})")
        kafka = None
    elif source is None or destination is None or error is None:
        needed = {"--source": source, "--destination": destination, "--error": error}
        missing = [option for option, value in needed.items() if value is None]
        raise click.UsageError(f"missing {', '.join(missing)} (or --off to remove the Kafka endpoint)")
    else:
        kafka = KafkaEndpoint(source, destination, error, consumer_group=group)
    with HydroClient.from_settings() as client:
        application = client.set_kafka(app, kafka)
    if application.kafka is None:
        click.echo(f"application {app} has no Kafka endpoint")
        return
    declared = application.kafka
    click.echo(
        f"application {app} reads Kafka topic {declared.source_topic} (consumer group "
        f"{declared.consumer_group}), answers to {declared.destination_topic}, sends failures to "
        f"{declared.error_topic}"
    )


@apps.command("list")
def apps_list() -> None:
    """List the applications: their variants, weights, replicas (ready/desired), Kafka consumer lag and
    invoke URL."""
    console = render.console()
    with HydroClient.from_settings() as client:
        applications = client.applications()
    table = Table("APP", "STAGE", "VARIANT", "WEIGHT", "CONFIG", "REPLICAS", "LAG", "INVOKE URL", box=None)
    unknown: list[tuple[str, str]] = []
    for application in applications:
        url = application.invoke_urls.get("http", "-")
        lag = _lag(application)
        if application.kafka is not None and application.kafka.lag_error is not None:
            unknown.append((application.name, application.kafka.lag_error))
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
                    lag,
                    url,
                )
                url = lag = ""
    console.print(table)
    for name, reason in unknown:
        console.print(f"{escape(name)}: Kafka lag unknown: {escape(reason)}", style="dim")


def _lag(application: Application) -> str:
    """The LAG cell: the Kafka consumer group's total lag, `?` when unknown, `-` without Kafka."""
    if application.kafka is None:
        return "-"
    return "?" if application.kafka.lag is None else str(application.kafka.lag)
