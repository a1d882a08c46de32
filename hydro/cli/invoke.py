"""`hydro invoke APP --json '{...}'`: call an application through the router."""

from __future__ import annotations

import json
from typing import Any

import click

from hydro.cli.arguments import json_object
from hydro.client import HydroClient


@click.command()
@click.argument("app")
@click.option(
    "--json",
    "inputs",
    required=True,
    callback=json_object,
    metavar="JSON",
    help='The inputs as a JSON object, e.g. \'{"amount": [12.5], "country": ["DE"]}\'.',
)
@click.option(
    "--key",
    envvar="HYDRO_INVOKE_KEY",
    metavar="KEY",
    help="The application's invoke key, when it requires one (default: HYDRO_INVOKE_KEY).",
)
def invoke(app: str, inputs: dict[str, Any], key: str | None) -> None:
    """Call application APP through the router and print its JSON answer."""
    with HydroClient.from_settings() as client:
        answer = client.invoke(app, inputs, key=key or None)
    click.echo(json.dumps(answer))
