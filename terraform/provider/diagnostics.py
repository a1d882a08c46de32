"""Problems as Terraform shows them: a diagnostic whose summary starts with the attribute's path
(`stage[0].variant[1].weight: must be >= 0`) and which points Terraform at that attribute, so it also
quotes the line of the configuration. Never a traceback.

Problem                 a refused request, an invalid value, a failed build (one diagnostic)
└── Problems            several at once (validation reports everything it finds)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from terraform.provider.protocol import tfplugin6_pb2 as pb

_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[\"([^\"]*)\"\]")


class Problem(Exception):
    """One error (or warning) for the user; `path` is the attribute it is about (`stage[0].weight`).

    `state`, when set, is what the resource now is despite the error (a version that was uploaded but
    failed to build): Terraform records it, marked tainted, instead of forgetting it."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        detail: str = "",
        warning: bool = False,
        state: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.detail = detail
        self.warning = warning
        self.state = state

    def to_proto(self) -> pb.Diagnostic:
        summary = f"{self.path}: {self.message}" if self.path else self.message
        severity = pb.Diagnostic.WARNING if self.warning else pb.Diagnostic.ERROR
        diagnostic = pb.Diagnostic(severity=severity, summary=summary, detail=self.detail)
        if self.path:
            diagnostic.attribute.CopyFrom(attribute_path(self.path))
        return diagnostic


class Problems(Exception):
    """Several problems found at once."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


def attribute_path(path: str) -> pb.AttributePath:
    """`stage[0].variant[1].weight` as protocol steps (names, list indices, map keys)."""
    steps = []
    for match in _STEP.finditer(path):
        name, index, key = match.groups()
        if name is not None:
            steps.append(pb.AttributePath.Step(attribute_name=name))
        elif index is not None:
            steps.append(pb.AttributePath.Step(element_key_int=int(index)))
        else:
            steps.append(pb.AttributePath.Step(element_key_string=key))
    return pb.AttributePath(steps=steps)


@dataclass
class Diagnostics:
    """What a call reports beside its answer: warnings, and errors found along the way."""

    problems: list[Problem]

    def __init__(self) -> None:
        self.problems = []

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def warn(self, message: str, *, path: str | None = None, detail: str = "") -> None:
        self.problems.append(Problem(message, path=path, detail=detail, warning=True))

    @property
    def failed(self) -> bool:
        return any(not p.warning for p in self.problems)

    def to_proto(self) -> list[pb.Diagnostic]:
        return [p.to_proto() for p in self.problems]
