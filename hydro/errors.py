"""Errors of the CLI and the SDK. The CLI turns each into exit code 1 and a one-line `error: ...`.

HydroError                    anything the CLI reports as a one-line reason
├── PackageError              the model folder cannot be packed (no hydro.yaml, no name, bad link)
├── HydroClientError          the control plane or the router refused a call (status + its message)
│   └── HydroConnectionError  nothing answered at the URL (status is None)
├── DeployError               the build failed or did not finish in time
└── DriftError                a drift report failed or did not finish in time
"""

from __future__ import annotations


class HydroError(Exception):
    """Base of the CLI's and the SDK's own errors; the message is meant for the user."""


class PackageError(HydroError):
    """A model folder cannot be packed; the message names the problem and the path."""


class HydroClientError(HydroError):
    """A call answered with an error status; `message` is the server's own `error` text."""

    def __init__(self, status: int | None, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.url = url


class HydroConnectionError(HydroClientError):
    """Nothing answered at the URL (refused, timed out, name not resolved)."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(None, message, url=url)


class DeployError(HydroError):
    """A version's build failed, or did not finish within the deploy timeout."""


class DriftError(HydroError):
    """A drift report failed, or was not finished within the wait's timeout."""
