"""A model's signature: the named, typed and shaped tensors it takes and returns.

Shared by the control plane (validating `hydro.yaml`), the router (checking requests before a
cold start) and the runtime (checking requests and the model's answers). Imports only numpy,
the generated catalog messages and `wire.datatypes`, because the runtime ships it inside every model image.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from protos.hydro.v1 import catalog_pb2
from wire.datatypes import DATATYPES, datatype_of

PROFILES = frozenset({"", "numeric", "categorical", "text", "image", "none"})


class SignatureError(ValueError):
    """A signature, or tensors checked against one, is not valid. The message names the field."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int, ...]
    profile: str = ""

    @classmethod
    def from_dict(cls, data: Any, where: str) -> TensorSpec:
        if not isinstance(data, Mapping):
            raise SignatureError(f"{where}: expected a mapping with name, datatype and shape")
        unknown = set(data) - {"name", "datatype", "shape", "profile"}
        if unknown:
            raise SignatureError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        name = data.get("name")
        if not isinstance(name, str) or not name:
            raise SignatureError(f"{where}.name: must be a non-empty string")
        datatype = data.get("datatype")
        if not isinstance(datatype, str) or datatype.upper() not in DATATYPES:
            raise SignatureError(
                f"{where}.datatype: {datatype!r} is not one of {', '.join(sorted(DATATYPES))}"
            )
        shape = data.get("shape")
        if not isinstance(shape, Sequence) or isinstance(shape, str) or len(shape) == 0:
            raise SignatureError(f"{where}.shape: must be a non-empty list of integers (-1 = any size)")
        for dim in shape:
            if isinstance(dim, bool) or not isinstance(dim, int) or dim < -1:
                raise SignatureError(f"{where}.shape: {dim!r} is not an integer >= -1")
        profile = data.get("profile", "") or ""
        if not isinstance(profile, str) or profile not in PROFILES:
            raise SignatureError(
                f"{where}.profile: {profile!r} is not one of {', '.join(sorted(p for p in PROFILES if p))}"
            )
        return cls(name=name, datatype=datatype.upper(), shape=tuple(shape), profile=profile)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}
        if self.profile:
            data["profile"] = self.profile
        return data

    def check(self, array: np.ndarray, kind: str) -> None:
        """Raise SignatureError unless `array` has this spec's datatype and shape."""
        got = datatype_of(array)
        if got != self.datatype:
            raise SignatureError(f"{kind} '{self.name}': expected datatype {self.datatype}, got {got}")
        if array.ndim != len(self.shape):
            raise SignatureError(
                f"{kind} '{self.name}': expected shape {list(self.shape)}, got {list(array.shape)} "
                f"(rank {array.ndim} instead of {len(self.shape)})"
            )
        for axis, (want, have) in enumerate(zip(self.shape, array.shape, strict=True)):
            if want != -1 and want != have:
                raise SignatureError(
                    f"{kind} '{self.name}': expected shape {list(self.shape)}, got {list(array.shape)} "
                    f"(axis {axis} must be {want})"
                )


def _specs(data: Any, where: str) -> tuple[TensorSpec, ...]:
    if not isinstance(data, Sequence) or isinstance(data, str) or len(data) == 0:
        raise SignatureError(f"{where}: must be a non-empty list of tensors")
    specs = tuple(TensorSpec.from_dict(item, f"{where}[{i}]") for i, item in enumerate(data))
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise SignatureError(f"{where}: the name '{spec.name}' is used twice")
        seen.add(spec.name)
    return specs


@dataclass(frozen=True)
class Signature:
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    @classmethod
    def from_dict(cls, data: Any) -> Signature:
        if not isinstance(data, Mapping):
            raise SignatureError("signature: expected a mapping with 'inputs' and 'outputs'")
        unknown = set(data) - {"inputs", "outputs"}
        if unknown:
            raise SignatureError(f"signature: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        return cls(
            inputs=_specs(data.get("inputs"), "signature.inputs"),
            outputs=_specs(data.get("outputs"), "signature.outputs"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
        }

    def to_proto(self) -> catalog_pb2.Signature:
        def spec(s: TensorSpec) -> catalog_pb2.TensorSpec:
            return catalog_pb2.TensorSpec(name=s.name, datatype=s.datatype, shape=s.shape, profile=s.profile)

        return catalog_pb2.Signature(
            inputs=[spec(s) for s in self.inputs], outputs=[spec(s) for s in self.outputs]
        )

    @classmethod
    def from_proto(cls, message: catalog_pb2.Signature) -> Signature:
        def spec(s: catalog_pb2.TensorSpec) -> TensorSpec:
            return TensorSpec(name=s.name, datatype=s.datatype, shape=tuple(s.shape), profile=s.profile)

        return cls(
            inputs=tuple(spec(s) for s in message.inputs), outputs=tuple(spec(s) for s in message.outputs)
        )

    def check_inputs(self, arrays: Mapping[str, np.ndarray]) -> None:
        _check(self.inputs, arrays, "input")

    def check_outputs(self, arrays: Mapping[str, np.ndarray]) -> None:
        _check(self.outputs, arrays, "output")

    def check_requested(self, names: Iterable[str], owner: str) -> None:
        """Raise SignatureError unless each of `names` (the outputs a request asks for) is an output here;
        `owner` says whose outputs they are ("the model", "application 'fraud'")."""
        produced = [spec.name for spec in self.outputs]
        for name in names:
            if name not in produced:
                raise SignatureError(
                    f"requested output {name!r} is not one of {owner}'s outputs: {', '.join(produced)}"
                )


def _check(specs: Sequence[TensorSpec], arrays: Mapping[str, np.ndarray], kind: str) -> None:
    expected = {spec.name for spec in specs}
    unexpected = sorted(set(arrays) - expected)
    if unexpected:
        raise SignatureError(
            f"unexpected {kind} '{unexpected[0]}': the signature's {kind}s are {', '.join(sorted(expected))}"
        )
    for spec in specs:
        if spec.name not in arrays:
            raise SignatureError(f"missing {kind} '{spec.name}' ({spec.datatype} {list(spec.shape)})")
        spec.check(arrays[spec.name], kind)
