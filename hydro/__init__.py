"""Hydro's user-facing entry: the `hydro` CLI, the SDK client and the all-in-one launcher.

`from hydro import HydroClient` works, but nothing is imported until it is asked for: every `hydro.*`
import runs this file, and the Terraform provider (started several times per `terraform plan`) imports
`hydro.errors` without wanting the client's HTTP and settings stack.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hydro.client import HydroClient
    from hydro.errors import HydroClientError, HydroError, PackageError

__all__ = ["HydroClient", "HydroClientError", "HydroError", "PackageError"]

_HOMES = {
    "HydroClient": "hydro.client",
    "HydroClientError": "hydro.errors",
    "HydroError": "hydro.errors",
    "PackageError": "hydro.errors",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hydro' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
