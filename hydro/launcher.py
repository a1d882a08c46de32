"""`hydro up`: the control plane, the scaler, Sonar and the router in one process and one event loop.

Each service is its own `serve(settings, started=event)` coroutine, imported here lazily (the
launcher is the only place that imports the services). They read the same `HYDRO_*` variables,
so one environment configures them all; every service's settings are read before any starts.
Ctrl-C or SIGTERM cancels them in reverse order, and the scaler stops the replicas it started (Docker
containers too, unless HYDRO_SCALER_KEEP_CONTAINERS=true).

The services present one service credential to one another (resolved once here, before any starts);
with HYDRO_TLS_CERT_FILE and HYDRO_TLS_KEY_FILE every server speaks TLS and the URLs announced are
https://.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable, Coroutine, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from hydro.client import HydroClient
from hydro.deploy import deploy, show_invoke
from hydro.errors import HydroError
from hydro.settings import Settings
from servicekit.credentials import service_token
from servicekit.settings import load
from servicekit.tls import http_verify, load_tls

log = logging.getLogger(__name__)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_MODEL = "fraud-detector"
EXAMPLE_APP = "demo"
START_TIMEOUT_S = 60.0

Serve = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


@dataclass(frozen=True)
class Service:
    name: str
    serve: Serve


def _control_plane() -> Serve:
    from control_plane.server import serve
    from control_plane.settings import Settings as ControlPlaneSettings

    settings = load(ControlPlaneSettings)
    return lambda started: serve(settings, started=started)


def _scaler() -> Serve:
    from scaler.server import serve
    from scaler.settings import Settings as ScalerSettings

    settings = load(ScalerSettings)
    return lambda started: serve(settings, started=started)


def _sonar() -> Serve:
    from sonar.server import serve
    from sonar.settings import Settings as SonarSettings

    settings = load(SonarSettings)
    return lambda started: serve(settings, started=started)


def _router() -> Serve:
    from router.server import serve
    from router.settings import Settings as RouterSettings

    settings = load(RouterSettings)
    return lambda started: serve(settings, started=started)


# Start order: the catalog first, the data plane last (so it stops first: the router hands its last
# samples to Sonar before Sonar writes what it holds). Each is imported only when `hydro up` runs.
SERVICES: tuple[tuple[str, Callable[[], Serve]], ...] = (
    ("control plane", _control_plane),
    ("scaler", _scaler),
    ("sonar", _sonar),
    ("router", _router),
)


def prepare(environ: MutableMapping[str, str]) -> tuple[Settings, list[Service]]:
    """Read every service's settings before any starts, so that a bad HYDRO_* variable stops `hydro up`
    with one line (SettingsError) instead of leaving half a platform running."""
    settings = load(Settings)
    load_tls(settings)  # a TLS file that cannot be used stops `hydro up` before any service starts
    derive_addresses(environ, settings)
    # Every service reads the service credential from HYDRO_SERVICE_TOKEN, else from {home}/service-token:
    # resolved here, once, before any starts, they all find the one generated now. (It is not put into
    # the environment, which the process runtime's replicas inherit.)
    service_token(settings)
    # One process owns the whole platform: on Ctrl-C nothing it started keeps running (a lone scaler
    # leaves its containers for the next one to adopt).
    environ.setdefault("HYDRO_SCALER_KEEP_CONTAINERS", "false")
    platform = []
    for name, build in SERVICES:
        try:
            platform.append(Service(name, build()))
        except ImportError as exc:
            raise HydroError(f"the {name} cannot be imported: {exc}") from exc
    return settings, platform


def run(*, example: bool, console: Console, log_level: str = "INFO") -> None:
    """Run the platform until Ctrl-C or SIGTERM; raise HydroError if a service cannot start or dies,
    SettingsError if a HYDRO_* variable is not usable."""
    settings, platform = prepare(os.environ)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the example's deploy calls, one line each
    try:
        asyncio.run(_main(settings, platform, example=example, console=console))
    except KeyboardInterrupt:
        pass
    console.print("Hydro stopped")


async def _main(settings: Settings, platform: list[Service], *, example: bool, console: Console) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    # SIGINT too, explicitly: a process started in the background by a non-interactive shell inherits
    # SIGINT as ignored, and asyncio then leaves it so; Ctrl-C must stop the platform however it started.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await run_platform(settings, platform, example=example, console=console)
    except asyncio.CancelledError:
        pass


async def run_platform(
    settings: Settings, platform: list[Service], *, example: bool, console: Console
) -> None:
    """Start `platform` one service after the other, announce it, optionally deploy the example,
    then serve until cancelled. On the way out every service is cancelled and awaited."""
    tasks: dict[asyncio.Task[None], str] = {}
    try:
        for service in platform:
            started = asyncio.Event()
            task = asyncio.create_task(service.serve(started), name=service.name)
            tasks[task] = service.name
            await _until_started(service.name, task, started)
        announce(settings, console)
        if example:
            await asyncio.to_thread(deploy_example, settings, console)
        console.print("[bold]serving until Ctrl-C[/]")
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        name = tasks[next(iter(done))]
        raise HydroError(f"the {name} stopped unexpectedly: {_outcome(next(iter(done)))}")
    finally:
        await _stop(tasks)


async def _stop(tasks: dict[asyncio.Task[None], str]) -> None:
    """Cancel the services in reverse start order: the router drains before the scaler stops replicas."""
    for task, name in reversed(tasks.items()):
        if task.done():
            continue
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.error("the %s failed while stopping", name, exc_info=True)


async def _until_started(name: str, task: asyncio.Task[None], started: asyncio.Event) -> None:
    waiter = asyncio.create_task(started.wait())
    try:
        await asyncio.wait({task, waiter}, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        raise HydroError(f"the {name} could not start: {_outcome(task)}")
    if not started.is_set():
        raise HydroError(f"the {name} did not start within {START_TIMEOUT_S:.0f} s")


def _outcome(task: asyncio.Task[None]) -> str:
    """How a service's task ended, in one line; an unexpected exception is logged with its traceback."""
    if task.cancelled():
        return "it was cancelled"
    exc = task.exception()
    if exc is None:
        return "it returned"
    if not isinstance(exc, OSError):
        log.error("the %s failed", task.get_name(), exc_info=exc)
    return " ".join(str(exc).split()) or type(exc).__name__


def derive_addresses(environ: MutableMapping[str, str], settings: Settings) -> None:
    """Point the services at one another from the ports and bind host, unless told otherwise, so that
    `HYDRO_CONTROL_PLANE_PORT=18080 hydro up` needs no matching HYDRO_CONTROL_PLANE_URL."""
    web = web_scheme(settings)
    derived = {
        "HYDRO_CONTROL_PLANE_URL": local_url(settings, settings.control_plane_port, web),
        "HYDRO_CATALOG_ADDRESS": local_url(settings, settings.catalog_port, ""),
        "HYDRO_SCALER_ADDRESS": local_url(settings, settings.scaler_port, ""),
        "HYDRO_ROUTER_URL": local_url(settings, settings.router_http_port, web),
        "HYDRO_ROUTER_GRPC_ADDRESS": local_url(settings, settings.router_grpc_port, ""),
        "HYDRO_SONAR_ADDRESS": local_url(settings, settings.sonar_port, ""),
    }
    for name, value in derived.items():
        environ.setdefault(name, value)


def web_scheme(settings: Settings) -> str:
    """`https` when the platform serves TLS (HYDRO_TLS_CERT_FILE), else `http`."""
    return "https" if settings.tls_enabled else "http"


def local_url(settings: Settings, port: int, scheme: str = "http") -> str:
    """Where a service bound to `bind_host` is reached from this machine."""
    host = settings.bind_host
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}" if scheme else f"{host}:{port}"


def announce(settings: Settings, console: Console) -> None:
    web = web_scheme(settings)
    tls = " over TLS" if settings.tls_enabled else ""
    rows = [
        (
            "control plane",
            f"{local_url(settings, settings.control_plane_port, web)}  (REST API /api/v1, web UI)",
        ),
        ("catalog", f"{local_url(settings, settings.catalog_port, '')}  (gRPC watch{tls})"),
        ("router", f"{local_url(settings, settings.router_http_port, web)}  (HTTP invoke)"),
        (
            "router gRPC",
            f"{local_url(settings, settings.router_grpc_port, '')}  (Open Inference Protocol{tls})",
        ),
        ("scaler", f"{local_url(settings, settings.scaler_port, '')}  (gRPC{tls})"),
        (
            "sonar",
            f"{local_url(settings, settings.sonar_port, '')}  (gRPC ingest{tls}; metrics on port "
            f"{settings.sonar_metrics_port})",
        ),
        ("admin token", "HYDRO_ADMIN_TOKEN" if settings.admin_token else str(settings.token_file)),
        (
            "service token",
            "HYDRO_SERVICE_TOKEN" if settings.service_token else str(settings.service_token_file),
        ),
        ("TLS", f"{settings.tls_cert_file} (CA {settings.tls_ca_file or 'of the system'})" if tls else "off"),
        ("state", str(settings.home)),
    ]
    console.print("[bold green]Hydro is up[/]")
    for name, where in rows:
        console.print(f"  {name:<14} {escape(where)}", soft_wrap=True)


def deploy_example(settings: Settings, console: Console) -> None:
    """`hydro deploy examples/fraud-detector --app demo` through the SDK, against this platform."""
    folder = EXAMPLES / EXAMPLE_MODEL
    if not (folder / "hydro.yaml").is_file():
        raise HydroError(f"the example model is not at {folder} (--example needs Hydro's source checkout)")
    web = web_scheme(settings)
    router_url = local_url(settings, settings.router_http_port, web)
    client = HydroClient(
        local_url(settings, settings.control_plane_port, web),
        router_url,
        token=settings.bearer_token(),
        timeout_s=settings.timeout_s,
        verify=http_verify(settings),
    )
    with client:
        deployed = deploy(client, folder, app=EXAMPLE_APP, console=console)
    show_invoke(
        console, deployed.application, deployed.version.signature, router_url, ca_file=settings.tls_ca_file
    )
