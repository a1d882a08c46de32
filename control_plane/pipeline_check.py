"""Whether a pipeline's stages fit together: a pure check of the variants' signatures.

Every variant of a stage (weighted or shadow) gets the same request, so all of a stage's variants
must accept the same inputs; and whichever variant of stage N answers, every variant of stage N+1
must find its inputs among those outputs, by name, with the same datatype and a compatible shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wire.signature import Signature, TensorSpec


@dataclass(frozen=True)
class StageVariant:
    """One variant of a stage as the check sees it: where it is declared, which version, its signature."""

    where: str  # e.g. "stages[1].variants[0]"
    version_key: str  # e.g. "fraud:3"
    signature: Signature

    def __str__(self) -> str:
        return f"{self.where} ({self.version_key!r})"


def pipeline_problem(stages: Sequence[Sequence[StageVariant]]) -> str | None:
    """The first reason the stages do not fit together, naming stage, variant and field; None if they do."""
    for stage in stages:
        problem = _same_inputs(stage)
        if problem is not None:
            return problem
    for producers, consumers in zip(stages, stages[1:], strict=False):
        for consumer in consumers:
            for producer in producers:
                problem = _covers(producer, consumer)
                if problem is not None:
                    return problem
    return None


def _same_inputs(stage: Sequence[StageVariant]) -> str | None:
    first = stage[0]
    expected = {spec.name: spec for spec in first.signature.inputs}
    for other in stage[1:]:
        got = {spec.name: spec for spec in other.signature.inputs}
        for name in sorted(expected.keys() | got.keys()):
            if name not in got:
                return f"{other} does not take input {name!r} that {first} takes; {_same_rule}"
            if name not in expected:
                return f"{other} takes input {name!r} that {first} does not take; {_same_rule}"
            a, b = expected[name], got[name]
            if (a.datatype, a.shape) != (b.datatype, b.shape):
                return f"input {name!r} is {_show(a)} in {first} but {_show(b)} in {other}; {_same_rule}"
    return None


_same_rule = "all variants of a stage (shadows too) must take the same inputs"


def _covers(producer: StageVariant, consumer: StageVariant) -> str | None:
    outputs = {spec.name: spec for spec in producer.signature.outputs}
    for wanted in consumer.signature.inputs:
        head = f"{consumer} input {wanted.name!r} ({_show(wanted)})"
        made = outputs.get(wanted.name)
        if made is None:
            return (
                f"{head} is not among the outputs of {producer}, which are "
                f"{', '.join(sorted(outputs))}; {_feed_rule}"
            )
        if made.datatype != wanted.datatype:
            return f"{head} does not match output {made.name!r} of {producer}: datatype {made.datatype}"
        if len(made.shape) != len(wanted.shape):
            return (
                f"{head} does not match output {made.name!r} of {producer}: shape {list(made.shape)} "
                f"has rank {len(made.shape)}, not {len(wanted.shape)}"
            )
        for axis, (have, want) in enumerate(zip(made.shape, wanted.shape, strict=True)):
            if have != -1 and want != -1 and have != want:
                return (
                    f"{head} does not match output {made.name!r} of {producer}: shape {list(made.shape)} "
                    f"has size {have} on axis {axis}, not {want}"
                )
    return None


_feed_rule = "every variant of a stage must produce every input of every variant of the next stage"


def _show(spec: TensorSpec) -> str:
    return f"{spec.datatype} {list(spec.shape)}"
