"""Hydro's user-facing entry: the `hydro` CLI, the SDK client and the all-in-one launcher."""

from hydro.client import HydroClient
from hydro.errors import HydroClientError, HydroError, PackageError

__all__ = ["HydroClient", "HydroClientError", "HydroError", "PackageError"]
