"""A version's manifest, `hydro.json`: what the runtime, the builder and Sonar need to know about it.

The control plane writes it into every stored package from the user's `hydro.yaml` (which only the control
plane parses); the package around it is `wire.package`'s. Standard library and `wire.signature` only: the
runtime reads it in every model image.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wire.names import DNS_LABEL_RULE, is_dns_label
from wire.signature import Signature, SignatureError

MANIFEST_FILE = "hydro.json"
SOURCE_MANIFEST_FILE = "hydro.yaml"
"""The user's form of the manifest, inside uploads and stored packages; parsed by the control plane only."""
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
_ENTRYPOINT = re.compile(rf"^{_IDENTIFIER}(\.{_IDENTIFIER})*:{_IDENTIFIER}$")


class PackageError(ValueError):
    """A package or its manifest is malformed or unsafe. The message names the member or field."""


def is_entrypoint(value: str) -> bool:
    """True for `module:attr` (a dotted module, an identifier), as hydro.yaml and hydro.json name it."""
    return bool(_ENTRYPOINT.match(value))


@dataclass(frozen=True)
class Manifest:
    """A version's `hydro.json`: what the runtime, the builder and Sonar need to know about it.

    Keys it does not know are ignored when read, so that a newer control plane can add fields.
    An `external` version is one Hydro monitors but does not serve: it has no runtime and no entrypoint
    (both "" here, null in the JSON), only a signature and perhaps training data.
    """

    name: str
    version: int
    runtime: str
    entrypoint: str
    signature: Signature
    requirements: str | None = None
    training_data: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    external: bool = False

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
        """Validate a parsed hydro.json; raise PackageError naming the first bad field."""
        if not isinstance(data, dict):
            raise PackageError(f"{MANIFEST_FILE}: expected a JSON object, got {type(data).__name__}")
        name = _required(data, "name", str)
        if not is_dns_label(name):
            raise PackageError(f"{MANIFEST_FILE}: name {name!r} must be {DNS_LABEL_RULE}")
        version = _required(data, "version", int)
        if version < 1:
            raise PackageError(f"{MANIFEST_FILE}: version must be an integer >= 1, got {version!r}")
        external = data.get("external", False)
        if not isinstance(external, bool):
            raise PackageError(f"{MANIFEST_FILE}: external must be true or false, got {external!r}")
        if external:
            # Hydro does not serve it: nothing to run, so no runtime and no entrypoint.
            runtime = entrypoint = ""
        else:
            runtime = _required(data, "runtime", str)
            entrypoint = _required(data, "entrypoint", str)
            if not is_entrypoint(entrypoint):
                raise PackageError(
                    f"{MANIFEST_FILE}: entrypoint {entrypoint!r} must look like 'module:Class' "
                    "or 'module:function'"
                )
        try:
            signature = Signature.from_dict(_required(data, "signature", dict))
        except SignatureError as exc:
            raise PackageError(f"{MANIFEST_FILE}: {exc}") from None
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise PackageError(f"{MANIFEST_FILE}: metadata must be an object, got {type(metadata).__name__}")
        return cls(
            name=name,
            version=version,
            runtime=runtime,
            entrypoint=entrypoint,
            signature=signature,
            requirements=_optional_str(data, "requirements"),
            training_data=_optional_str(data, "training_data"),
            metadata=metadata,
            external=external,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PackageError(
                f"{MANIFEST_FILE} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        except UnicodeDecodeError:
            raise PackageError(f"{MANIFEST_FILE} is not UTF-8 text") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored as hydro.json (every key, unset ones as null; `external` only when true)."""
        data: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "runtime": self.runtime or None,
            "entrypoint": self.entrypoint or None,
            "requirements": self.requirements,
            "signature": self.signature.to_dict(),
            "training_data": self.training_data,
            "metadata": self.metadata,
        }
        if self.external:
            data["external"] = True
        return data


def read_manifest(model_dir: Path) -> Manifest:
    """Read and validate `model_dir/hydro.json`."""
    path = model_dir / MANIFEST_FILE
    if not model_dir.is_dir():
        raise PackageError(f"model directory {str(model_dir)!r} does not exist or is not a directory")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PackageError(
            f"{str(path)!r} not found: the model directory must hold the {MANIFEST_FILE} that the control "
            "plane writes into every package"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PackageError(f"cannot read {str(path)!r}: {exc}") from None
    return Manifest.from_json(text)


def write_manifest(model_dir: Path, manifest: Manifest) -> None:
    """Write `model_dir/hydro.json`."""
    (model_dir / MANIFEST_FILE).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")


def _required(data: dict[str, Any], key: str, kind: type[Any]) -> Any:
    if key not in data or data[key] is None:
        raise PackageError(f"{MANIFEST_FILE}: missing required key {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise PackageError(f"{MANIFEST_FILE}: {key} must be {_kind_name(kind)}, got {type(value).__name__}")
    if kind is str and not value:
        raise PackageError(f"{MANIFEST_FILE}: {key} must not be empty")
    return value


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PackageError(f"{MANIFEST_FILE}: {key} must be a string or null, got {type(value).__name__}")
    return value


def _kind_name(kind: type[Any]) -> str:
    return {str: "a string", int: "an integer", dict: "an object"}.get(kind, kind.__name__)
