"""Values as Terraform sends and takes them: cty values in MessagePack, read into plain Python.

An object is a dict holding every attribute of its type, a list a list, a number an int or a float,
null None, and a value not known until apply `UNKNOWN`. Values written back are completed against the
schema first (attributes left out become null, list blocks left out become []), since Terraform wants
every attribute of an object.
"""

from __future__ import annotations

import json
from typing import Any, Final

import msgpack

from terraform.provider.protocol import tfplugin6_pb2 as pb
from terraform.provider.schema import Block, Type


class _Unknown:
    """A value Terraform does not know yet (it becomes known during apply)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Final = _Unknown()
_UNKNOWN_EXT = 0
"""cty's MessagePack extension code of an unknown value; 12 is an unknown with refinements (not null,
a string prefix, ...), which this provider reads as plainly unknown."""
_REFINED_UNKNOWN_EXT = 12


def decode(value: pb.DynamicValue, block: Block) -> Any:
    """A DynamicValue (MessagePack, or JSON from older state) as Python, shaped as `block`."""
    if value.msgpack:
        raw = msgpack.unpackb(value.msgpack, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    elif value.json:
        raw = json.loads(value.json)
    else:
        return None
    return shaped(raw, block)


def encode(value: Any, block: Block) -> pb.DynamicValue:
    type_ = block.type()
    return pb.DynamicValue(msgpack=msgpack.packb(_plain(shaped(value, block), type_), use_bin_type=True))


def shaped(value: Any, block: Block) -> Any:
    """`value` as an object of `block`: every attribute present, list blocks never null (Terraform holds
    absent list blocks as [])."""
    if value is None or value is UNKNOWN:
        return value
    out = complete(value, block.type())
    for nested in block.blocks:
        inner = out[nested.name]
        if inner is UNKNOWN:
            continue
        if nested.nesting == "list":
            out[nested.name] = [] if inner is None else [shaped(item, nested.block) for item in inner]
        elif inner is not None:
            out[nested.name] = shaped(inner, nested.block)
    return out


def complete(value: Any, type_: Type) -> Any:
    """`value` shaped as `type_`: every attribute of an object present (absent ones null)."""
    if value is None or value is UNKNOWN:
        return value
    if isinstance(type_, list):
        kind, inner = type_
        if kind == "object":
            given = value if isinstance(value, dict) else {}
            return {name: complete(given.get(name), t) for name, t in inner.items()}
        if kind == "list":
            return [complete(item, inner) for item in value]
        if kind == "map":
            return {key: complete(item, inner) for key, item in value.items()}
    if type_ == "number" and isinstance(value, str):
        number = float(value)
        return int(number) if number.is_integer() else number
    return value


def _plain(value: Any, type_: Type) -> Any:
    """Ready for msgpack: unknowns as cty's extension, whole floats as ints (cty's own encoding)."""
    if value is UNKNOWN:
        return msgpack.ExtType(_UNKNOWN_EXT, b"\x00")
    if value is None:
        return None
    if isinstance(type_, list):
        kind, inner = type_
        if kind == "object":
            return {name: _plain(value.get(name), t) for name, t in inner.items()}
        if kind == "list":
            return [_plain(item, inner) for item in value]
        if kind == "map":
            return {key: _plain(item, inner) for key, item in value.items()}
    if type_ == "number" and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _ext_hook(code: int, data: bytes) -> Any:
    if code in (_UNKNOWN_EXT, _REFINED_UNKNOWN_EXT):
        return UNKNOWN
    raise ValueError(f"unexpected MessagePack extension {code} in a value from Terraform")


def is_known(value: Any) -> bool:
    """Whether `value` holds no unknown anywhere inside it."""
    if value is UNKNOWN:
        return False
    if isinstance(value, dict):
        return all(is_known(v) for v in value.values())
    if isinstance(value, list):
        return all(is_known(v) for v in value)
    return True
