"""Where the control plane keeps things in the shared object store (see `servicekit.object_store`)."""

from __future__ import annotations


def package_key(model: str, version: int) -> str:
    return f"models/{model}/{version}/package.tar.gz"
