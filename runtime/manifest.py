"""The model's `hydro.json`, written by the control plane at the root of every model package.

The runtime reads only this normalized file (never `hydro.yaml`), so it needs no YAML parser.
Keys it does not know are ignored, so that a newer control plane can add fields.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.errors import ManifestError
from wire.signature import Signature, SignatureError

MANIFEST_FILE = "hydro.json"

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_ENTRYPOINT = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}$")


@dataclass(frozen=True)
class Manifest:
    """What the runtime needs to know about the model version it serves."""

    name: str
    version: int
    runtime: str
    entrypoint: str
    signature: Signature
    requirements: str | None = None
    training_data: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        """The module part of `module:attr`."""
        return self.entrypoint.partition(":")[0]

    @property
    def attr(self) -> str:
        """The class or function part of `module:attr`."""
        return self.entrypoint.partition(":")[2]

    @classmethod
    def from_dict(cls, data: Any) -> Manifest:
        """Validate a parsed hydro.json; raise ManifestError naming the first bad field."""
        if not isinstance(data, dict):
            raise ManifestError(f"{MANIFEST_FILE}: expected a JSON object, got {type(data).__name__}")

        name = _required(data, "name", str)
        if not _NAME.match(name):
            raise ManifestError(
                f"{MANIFEST_FILE}: name {name!r} must be 1 to 63 characters of a-z, 0-9 and '-', "
                "starting and ending with a letter or digit"
            )
        version = _required(data, "version", int)
        if version < 1:
            raise ManifestError(f"{MANIFEST_FILE}: version must be an integer >= 1, got {version!r}")
        runtime = _required(data, "runtime", str)
        entrypoint = _required(data, "entrypoint", str)
        if not _ENTRYPOINT.match(entrypoint):
            raise ManifestError(
                f"{MANIFEST_FILE}: entrypoint {entrypoint!r} must look like 'module:Class' "
                "or 'module:function'"
            )
        try:
            signature = Signature.from_dict(_required(data, "signature", dict))
        except SignatureError as exc:
            raise ManifestError(f"{MANIFEST_FILE}: {exc}") from None
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise ManifestError(f"{MANIFEST_FILE}: metadata must be an object, got {type(metadata).__name__}")
        return cls(
            name=name,
            version=version,
            runtime=runtime,
            entrypoint=entrypoint,
            signature=signature,
            requirements=_optional_str(data, "requirements"),
            training_data=_optional_str(data, "training_data"),
            metadata=metadata,
        )


def load_manifest(model_dir: Path) -> Manifest:
    """Read and validate `model_dir/hydro.json`."""
    path = model_dir / MANIFEST_FILE
    if not model_dir.is_dir():
        raise ManifestError(f"model directory {str(model_dir)!r} does not exist or is not a directory")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(
            f"{str(path)!r} not found: the model directory must hold the {MANIFEST_FILE} that the control "
            "plane writes into every package"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read {str(path)!r}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"{MANIFEST_FILE} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    return Manifest.from_dict(data)


def _required(data: dict[str, Any], key: str, kind: type[Any]) -> Any:
    if key not in data or data[key] is None:
        raise ManifestError(f"{MANIFEST_FILE}: missing required key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"{MANIFEST_FILE}: {key} must be {_kind_name(kind)}, got {type(value).__name__}")
    if kind is str and not value:
        raise ManifestError(f"{MANIFEST_FILE}: {key} must not be empty")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ManifestError(f"{MANIFEST_FILE}: {key} must be a string or null, got {type(value).__name__}")
    return value


def _kind_name(kind: type[Any]) -> str:
    return {str: "a string", int: "an integer", dict: "an object"}.get(kind, kind.__name__)
