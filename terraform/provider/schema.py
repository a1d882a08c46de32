"""Schemas of the provider, its resources and data sources: attributes and nested blocks, with the cty
type each stands for (what Terraform encodes values with) and their protocol form.

Types are cty's JSON type notation: `"string"`, `"number"`, `"bool"`, `["list", T]`, `["map", T]`,
`["object", {name: T}]`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from terraform.provider.protocol import tfplugin6_pb2 as pb

Type = Any
"""A cty type in its JSON notation."""

STRING: Type = "string"
NUMBER: Type = "number"
BOOL: Type = "bool"


def list_of(element: Type) -> Type:
    return ["list", element]


def map_of(element: Type) -> Type:
    return ["map", element]


def object_of(attributes: dict[str, Type]) -> Type:
    return ["object", attributes]


@dataclass(frozen=True)
class Attribute:
    name: str
    type: Type
    description: str
    required: bool = False
    optional: bool = False
    computed: bool = False
    sensitive: bool = False

    def to_proto(self) -> pb.Schema.Attribute:
        return pb.Schema.Attribute(
            name=self.name,
            type=json.dumps(self.type).encode(),
            description=self.description,
            required=self.required,
            optional=self.optional,
            computed=self.computed,
            sensitive=self.sensitive,
        )


@dataclass(frozen=True)
class Block:
    attributes: tuple[Attribute, ...]
    blocks: tuple[NestedBlock, ...] = ()
    description: str = ""

    def type(self) -> Type:
        """The cty object type of one such block."""
        types = {a.name: a.type for a in self.attributes}
        for nested in self.blocks:
            types[nested.name] = nested.type()
        return object_of(types)

    def attribute(self, name: str) -> Attribute | None:
        return next((a for a in self.attributes if a.name == name), None)

    def nested(self, name: str) -> NestedBlock | None:
        return next((b for b in self.blocks if b.name == name), None)

    def to_proto(self) -> pb.Schema.Block:
        return pb.Schema.Block(
            attributes=[a.to_proto() for a in self.attributes],
            block_types=[b.to_proto() for b in self.blocks],
            description=self.description,
        )


@dataclass(frozen=True)
class NestedBlock:
    """Blocks such as `stage { ... }`: `list` (ordered, repeatable) or `single` (at most one, null when
    absent)."""

    name: str
    block: Block
    nesting: Literal["list", "single"]
    min_items: int = 0
    max_items: int = 0

    def type(self) -> Type:
        inner = self.block.type()
        return list_of(inner) if self.nesting == "list" else inner

    def to_proto(self) -> pb.Schema.NestedBlock:
        mode = pb.Schema.NestedBlock.LIST if self.nesting == "list" else pb.Schema.NestedBlock.SINGLE
        return pb.Schema.NestedBlock(
            type_name=self.name,
            block=self.block.to_proto(),
            nesting=mode,
            min_items=self.min_items,
            max_items=self.max_items,
        )


def schema_proto(block: Block, version: int = 0) -> pb.Schema:
    return pb.Schema(version=version, block=block.to_proto())
