"""The service credential: one shared secret the services present to one another.

It is `HYDRO_SERVICE_TOKEN` when set. Otherwise it lives in `{HYDRO_HOME}/service-token` (mode 0600):
the first service to start on a host generates it there (created exclusively, so two services starting
at once agree on one), and every later one reads it. `hydro up` runs every service against one home, so
the embedded default needs no action; services on several hosts need `HYDRO_SERVICE_TOKEN` set alike.
"""

from __future__ import annotations

import hmac
import os
import secrets
import time
from pathlib import Path

from servicekit.settings import ServiceSettings, SettingsError

SERVICE_PRINCIPAL = "service"
"""The name the control plane's audit trail and logs give a caller that presented the service credential."""


def service_token(settings: ServiceSettings) -> str:
    """The service credential: `HYDRO_SERVICE_TOKEN`, else the token file (generated when missing)."""
    if settings.service_token is not None and settings.service_token.get_secret_value():
        return settings.service_token.get_secret_value()
    return _read_or_create(settings.service_token_file)


def matches(presented: str, expected: str) -> bool:
    """Constant-time comparison of a presented credential with the expected one."""
    return hmac.compare_digest(presented.encode(), expected.encode())


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None when it is not one."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _read_or_create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    try:
        os.write(fd, (token + "\n").encode())
    finally:
        os.close(fd)
    return token


def _read(path: Path) -> str:
    """The token another process wrote; waits briefly for a writer that created the file a moment ago."""
    deadline = time.monotonic() + 2.0
    while True:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(f"HYDRO_SERVICE_TOKEN is unset and {path} cannot be read: {exc}") from None
        if text or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    if not text:
        raise SettingsError(
            f"HYDRO_SERVICE_TOKEN is unset and {path} is empty; delete it or set the variable"
        )
    return text
