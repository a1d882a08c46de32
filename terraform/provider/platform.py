"""The platform a configured provider talks to: the SDK's client, made on first use, and the one place
where the API's refusals become diagnostics.

The client (and with it httpx and the settings) is imported only when a call needs the API: Terraform
starts the provider several times per command, and some of those starts only ask for the schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from terraform.provider.diagnostics import Problem
from terraform.provider.schema import Block

if TYPE_CHECKING:
    from hydro.client import HydroClient
    from hydro.errors import HydroClientError

_PREFIX = re.compile(r"^(?:[a-z][a-z ]*'[^']*'|monitoring of \S+:\d+): ")
"""`application 'scoring': `, `deployment config 'small': `, `monitoring of scorer:3: `: what a message
is about (the resource)."""
_PATH = re.compile(r"^(?P<path>[a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*): ")
_RENAMES = (("stages[", "stage["), ("variants[", "variant["))
_VARIANT_TOPICS = (("deployment config", "deployment_config"), ("model version", "version"))


@dataclass
class Platform:
    """Where the provider's configuration points: `None` fields fall back to `HYDRO_*` variables."""

    endpoint: str | None = None
    token: str | None = None
    ca_file: str | None = None
    _client: HydroClient | None = field(default=None, repr=False)

    def client(self) -> HydroClient:
        if self._client is None:
            self._client = _connect(self)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _connect(platform: Platform) -> HydroClient:
    import ssl

    from hydro.client import HydroClient
    from hydro.settings import Settings
    from servicekit.settings import SettingsError, load
    from servicekit.tls import http_verify

    try:
        settings = load(Settings)
        verify: ssl.SSLContext | bool = (
            http_verify(settings)
            if platform.ca_file is None
            else ssl.create_default_context(cafile=platform.ca_file)
        )
    except SettingsError as exc:
        raise Problem(str(exc)) from None
    except (OSError, ssl.SSLError) as exc:
        raise Problem(f"not a readable PEM CA certificate: {exc}", path="ca_file") from None
    return HydroClient(
        platform.endpoint or settings.control_plane_url,
        token=platform.token or settings.bearer_token(),
        timeout_s=settings.timeout_s,
        verify=verify,
    )


def refused(exc: HydroClientError, block: Block, *, doing: str) -> Problem:
    """The API's refusal as a diagnostic on the attribute its message names (`stages[0].variants[1]:
    deployment config 'x' does not exist` -> `stage[0].variant[1].deployment_config`), if any."""
    message = exc.message
    if exc.status is None:
        return Problem(
            f"{doing}: {message}", detail="Check the provider's endpoint (or HYDRO_CONTROL_PLANE_URL)."
        )
    rest = _PREFIX.sub("", message, count=1)
    found = _PATH.match(rest)
    path: str | None = None
    if found is not None:
        path = found.group("path")
        for old, new in _RENAMES:
            path = path.replace(old, new)
        rest = rest[found.end() :]
        if path.startswith("stage[") and path.endswith("]") and ".variant[" in path:
            for topic, attribute in _VARIANT_TOPICS:
                if rest.startswith(topic):
                    path += f".{attribute}"
                    break
        first = re.split(r"[.\[]", path, maxsplit=1)[0]
        if block.attribute(first) is None and block.nested(first) is None:
            path, rest = None, message
    detail = f"{doing}: the control plane answered {exc.status}: {message}"
    return Problem(rest if path else f"{doing}: {message}", path=path, detail=detail)


def missing(exc: Any) -> bool:
    """Whether a refusal says the thing does not exist (404)."""
    return getattr(exc, "status", None) == 404
