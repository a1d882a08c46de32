"""`hydro external register MODEL --signature FILE|DIR`: a model version Hydro monitors but does not serve.

FILE is a YAML or JSON file holding the signature (`inputs`/`outputs`, or a mapping with a `signature`
key such as a hydro.yaml): the version is registered from it alone. DIR is a folder whose hydro.yaml says
`external: true` (name, signature, and `training_data` with its file): it is packed and uploaded, so its
training data becomes the reference of drift reports. Either way the version is released at once; its
traffic is sent with `HydroClient.send_samples` (`POST /api/v1/models/{model}/versions/{n}/samples`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from hydro.client import HydroClient
from hydro.errors import PackageError
from hydro.package import pack, read_hydro_yaml


@click.group()
def external() -> None:
    """Models Hydro monitors but does not serve (their traffic is sent to Sonar over HTTP)."""


@external.command()
@click.argument("model")
@click.option(
    "--signature",
    "source",
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A YAML/JSON file with the signature, or a folder whose hydro.yaml says external: true.",
)
def register(model: str, source: Path) -> None:
    """Register MODEL's next version as external: released at once, never built, never routed."""
    with HydroClient.from_settings() as client:
        if source.is_dir():
            manifest = read_hydro_yaml(source)
            if manifest.get("external") is not True:
                raise PackageError(
                    f"{source / 'hydro.yaml'} does not say external: true; a model Hydro serves is "
                    "deployed with `hydro deploy`"
                )
            if manifest["name"] != model:
                raise PackageError(
                    f"{source / 'hydro.yaml'} names the model {manifest['name']!r}, not {model!r}"
                )
            accepted = client.upload_version(pack(source))
        else:
            accepted = client.register_external(model, _signature(source))
    click.echo(f"registered {accepted.model}:{accepted.version} (external, {accepted.status})")
    click.echo(
        f"send its traffic: HydroClient.send_samples({accepted.model!r}, {accepted.version}, pairs) "
        f"or POST /api/v1/models/{accepted.model}/versions/{accepted.version}/samples"
    )


def _signature(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageError(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise PackageError(f"{path} is not valid YAML or JSON: {' '.join(str(exc).split())}") from None
    if isinstance(data, dict) and isinstance(data.get("signature"), dict):
        data = data["signature"]
    if not isinstance(data, dict) or "inputs" not in data:
        raise PackageError(f"{path} must hold a signature: a mapping with inputs and outputs")
    return data
