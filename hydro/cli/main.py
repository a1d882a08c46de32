"""The `hydro` group: every command, and how Hydro's errors reach the user.

Exit codes a script can rely on: 0 success; 1 refused by the platform or bad input, with a one-line
`error: ...` on stderr; 2 wrong usage (unknown option, missing argument), reported by click, or a
HYDRO_* variable that is not usable, reported as `hydro: HYDRO_X='value': what it accepts`.
"""

from __future__ import annotations

from typing import Any

import click

from hydro.cli.apps import apps
from hydro.cli.audit import audit
from hydro.cli.configs import configs
from hydro.cli.deploy import deploy
from hydro.cli.drift import drift
from hydro.cli.external import external
from hydro.cli.gc import gc
from hydro.cli.invoke import invoke
from hydro.cli.keys import keys
from hydro.cli.models import logs, models
from hydro.cli.monitor import monitor
from hydro.cli.services import control_plane, router, scaler, sonar, up
from hydro.cli.tokens import tokens
from hydro.errors import HydroClientError, HydroConnectionError, HydroError
from hydro.settings import Settings
from servicekit.settings import SettingsError, load

_URL_VARIABLES = "HYDRO_CONTROL_PLANE_URL and HYDRO_ROUTER_URL"


class _Cli(click.Group):
    """Turns Hydro's errors into `error: <reason>` on stderr and exit code 1, and a bad setting into
    `hydro: <variable and what it accepts>` and exit code 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HydroError as exc:
            click.echo(f"error: {_reason(exc)}", err=True)
            ctx.exit(1)
        except SettingsError as exc:
            click.echo(f"hydro: {exc}", err=True)
            ctx.exit(2)


def _reason(exc: HydroError) -> str:
    message = " ".join(str(exc).split())
    if isinstance(exc, HydroConnectionError):
        return f"{message}; is the platform running? (start it with `hydro up`, or set {_URL_VARIABLES})"
    if isinstance(exc, HydroClientError) and exc.status == 401 and "invoke key" in message:
        return f"{message} (pass --key, or set HYDRO_INVOKE_KEY)"
    if isinstance(exc, HydroClientError) and exc.status == 403 and "role" in message:
        return f"{message} (an admin creates tokens with a role: hydro tokens create NAME --role ROLE)"
    if isinstance(exc, HydroClientError) and exc.status == 401:
        return f"{message} (the token comes from HYDRO_TOKEN, else the file {load(Settings).token_file})"
    return message


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hydro", message="hydro %(version)s")
def cli() -> None:
    """Hydro: serverless model serving. Every model version is a scale-to-zero function."""


for command in (
    deploy,
    models,
    logs,
    apps,
    configs,
    invoke,
    keys,
    monitor,
    drift,
    external,
    tokens,
    audit,
    gc,
    up,
    control_plane,
    router,
    scaler,
    sonar,
):
    cli.add_command(command)


def main() -> None:
    """The `hydro` console script."""
    cli(prog_name="hydro")
