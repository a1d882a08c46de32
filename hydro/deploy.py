"""`hydro deploy`: pack, upload, follow the build, point the application at the new version.

Shared by the CLI and `hydro up --example`, so both take the same path through the SDK.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from hydro.client import HydroClient
from hydro.errors import DeployError, HydroClientError
from hydro.package import pack
from hydro.resources import Accepted, Application, ModelVersion, Variant

MAX_ROUTER_WAIT_S = 60.0
"""The longest `PUT /applications/{app}?wait=true` the control plane accepts."""

EXAMPLE_VALUES: dict[str, Any] = {"BOOL": True, "BYTES": "text", "FP16": 1.0, "FP32": 1.0, "FP64": 1.0}


@dataclass(frozen=True)
class Deployed:
    version: ModelVersion
    application: Application


def deploy(
    client: HydroClient,
    folder: Path | str,
    *,
    app: str,
    deployment_config: str = "default",
    console: Console,
    timeout_s: float = 1800.0,
    poll_s: float = 0.5,
    router_timeout_s: float = 30.0,
) -> Deployed:
    """Upload `folder` as a new version, wait until it is released, route `app` to it (weight 100) and
    wait (bounded) until the router serves it."""
    accepted = upload(client, folder, console=console)
    version = wait_for_build(client, accepted, console=console, timeout_s=timeout_s, poll_s=poll_s)
    if version.status != "released":
        raise DeployError(
            f"the build of {version.key} failed: {version.error or 'no reason given'} "
            f"(full log: hydro logs {version.key})"
        )
    variant = Variant(version.model, version.version, weight=100, deployment_config=deployment_config)
    # The control plane answers once every router serves the application (bounded), so the printed
    # invoke URL works at once.
    wait_s = min(router_timeout_s, MAX_ROUTER_WAIT_S)
    # A redeploy changes what the application serves, not how it is reached: its sampling rate, invoke
    # key requirement and Kafka endpoint stay as they were.
    current = existing_application(client, app)
    application = client.put_application(
        app,
        [[variant]],
        sampling_rate=current.sampling_rate if current else 1.0,
        require_invoke_key=current.require_invoke_key if current else False,
        kafka=current.kafka if current else None,
        wait_s=wait_s,
    )
    console.print(
        f"[green]✓[/] application [bold]{escape(app)}[/] now serves {escape(version.key)} "
        f"(deployment config {escape(deployment_config)})"
    )
    if application.routable is False:
        console.print(
            f"[yellow]![/] {escape(app)} is not routable yet: "
            f"{escape(application.routable_reason or 'no reason given')}; invokes may answer 404 until "
            "every router serves it"
        )
    return Deployed(version=version, application=application)


def existing_application(client: HydroClient, app: str) -> Application | None:
    """Application `app` as declared now, or None when there is none."""
    try:
        return client.application(app)
    except HydroClientError as exc:
        if exc.status == 404:
            return None
        raise


def upload(client: HydroClient, folder: Path | str, *, console: Console) -> Accepted:
    package = pack(folder)
    size = len(package.data)
    console.print(
        f"packed [bold]{escape(package.name)}[/] from {escape(str(folder))}: "
        f"{len(package.files)} files, {_size(size)}"
    )
    accepted = client.upload_version(package)
    console.print(f"uploaded [bold]{escape(accepted.model)}:{accepted.version}[/] ({accepted.status})")
    return accepted


def wait_for_build(
    client: HydroClient, accepted: Accepted, *, console: Console, timeout_s: float, poll_s: float
) -> ModelVersion:
    """Poll the version until released or failed, printing each new build log line as it appears."""
    key = f"{accepted.model}:{accepted.version}"
    deadline = time.monotonic() + timeout_s
    printed = 0
    with console.status(f"building {key}: {accepted.status}") as status:
        while True:
            version = client.version(accepted.model, accepted.version)
            log = _logs(client, accepted)
            done = log.rfind("\n") + 1 if not version.finished else len(log)
            for line in log[printed:done].splitlines():
                console.print(f"  {line}", style="dim", markup=False, highlight=False, soft_wrap=True)
            printed = max(printed, done)
            if version.finished:
                break
            if time.monotonic() > deadline:
                raise DeployError(
                    f"{key} is still {version.status} after {timeout_s:.0f} s; "
                    f"follow it with `hydro logs {key}`"
                )
            status.update(f"building {key}: {version.status}")
            time.sleep(poll_s)
    mark = "[green]✓[/]" if version.status == "released" else "[red]✗[/]"
    image = f" as {escape(version.image)}" if version.image else ""
    console.print(f"{mark} {escape(key)} {version.status}{image}")
    return version


def _logs(client: HydroClient, accepted: Accepted) -> str:
    try:
        return client.version_logs(accepted.model, accepted.version)
    except HydroClientError as exc:
        if exc.status == 404:  # no log yet
            return ""
        raise


def show_invoke(
    console: Console,
    application: Application,
    signature: dict[str, Any],
    router_url: str,
    *,
    ca_file: Path | None = None,
) -> None:
    """Print the application's invoke URLs and a ready-to-paste curl line (trusting `ca_file`, the
    platform's CA, when it serves TLS with one)."""
    urls = application.invoke_urls or {"http": f"{router_url.rstrip('/')}/apps/{application.name}"}
    console.print("invoke URLs:")
    for kind, url in urls.items():
        suffix = f'  (model_name "{application.name}")' if kind == "grpc" else ""
        console.print(f"  {kind:<5} {url}{suffix}", markup=False, highlight=False, soft_wrap=True)
    console.print("try it:")
    line = curl_line(urls["http"], signature, ca_file=ca_file)
    console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


def curl_line(url: str, signature: dict[str, Any], *, ca_file: Path | None = None) -> str:
    body = json.dumps(example_body(signature))
    cacert = (
        f"--cacert {shlex.quote(str(ca_file))} " if ca_file is not None and url.startswith("https:") else ""
    )
    return (
        f"curl -s {cacert}-X POST {shlex.quote(url)} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(body)}"
    )


def example_body(signature: dict[str, Any]) -> dict[str, Any]:
    """A request of one row in the plain form: each input filled with a value of its datatype."""
    body: dict[str, Any] = {}
    for spec in signature.get("inputs") or []:
        value = EXAMPLE_VALUES.get(str(spec.get("datatype", "")).upper(), 1)
        for dim in reversed(list(spec.get("shape") or [-1])):
            value = [value] * (dim if isinstance(dim, int) and dim > 0 else 1)
        body[str(spec.get("name"))] = value
    return body


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MiB"
