"""What every resource and data source of the provider answers, and the helpers their plans share.

A resource's plan is a function of its configuration (and, for what only the platform knows, of its
prior state): an optional knob left out plans the platform's default, so removing a line from the
configuration puts the default back, and what the platform answers is what the next plan compares with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from terraform.provider.diagnostics import Diagnostics, Problem
from terraform.provider.platform import Platform
from terraform.provider.schema import Block
from terraform.provider.values import UNKNOWN

State = dict[str, Any]


@dataclass
class Planned:
    state: State
    replace: list[str] = field(default_factory=list)
    """Paths of the attributes whose change needs a new object (destroy, then create)."""


class Resource:
    type_name: ClassVar[str]
    block: ClassVar[Block]

    def validate(self, config: State, diags: Diagnostics) -> None:
        """Check what can be checked without the platform (values may be UNKNOWN)."""

    def plan(self, platform: Platform, prior: State | None, config: State, diags: Diagnostics) -> Planned:
        raise NotImplementedError

    def create(self, platform: Platform, planned: State, diags: Diagnostics) -> State:
        raise NotImplementedError

    def update(self, platform: Platform, prior: State, planned: State, diags: Diagnostics) -> State:
        raise NotImplementedError

    def delete(self, platform: Platform, prior: State, diags: Diagnostics) -> None:
        raise NotImplementedError

    def read(self, platform: Platform, state: State, diags: Diagnostics) -> State | None:
        """The object as the platform has it now; None when it is gone."""
        raise NotImplementedError

    def import_state(self, platform: Platform, id_: str, diags: Diagnostics) -> State:
        raise Problem(f"{self.type_name} cannot be imported")


class DataSource:
    type_name: ClassVar[str]
    block: ClassVar[Block]

    def validate(self, config: State, diags: Diagnostics) -> None:
        """Check what can be checked without the platform."""

    def read(self, platform: Platform, config: State, diags: Diagnostics) -> State:
        raise NotImplementedError


def given(config: State, name: str, default: Any) -> Any:
    """The configured value, or the platform's default when the configuration leaves it out."""
    value = config.get(name)
    return default if value is None else value


def differs(prior: State | None, planned: State, names: Iterable[str]) -> bool:
    """Whether any of `names` is planned to change (an unknown counts as a change)."""
    if prior is None:
        return True
    return any(planned.get(n) is UNKNOWN or planned.get(n) != prior.get(n) for n in names)


def integer(value: Any, path: str, diags: Diagnostics, *, minimum: int = 0) -> None:
    """Report `value` unless it is a whole number of at least `minimum` (unknown and null pass)."""
    if value is None or value is UNKNOWN:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not float(value).is_integer():
        diags.add(Problem(f"must be a whole number, got {value}", path=path))
    elif value < minimum:
        diags.add(Problem(f"must be >= {minimum}, got {value:g}", path=path))


def number(value: Any, path: str, diags: Diagnostics, *, low: float, high: float | None = None) -> None:
    """Report `value` unless it lies in [low, high] (unknown and null pass)."""
    if value is None or value is UNKNOWN:
        return
    if value < low or (high is not None and value > high):
        bounds = f"from {low:g} to {high:g}" if high is not None else f">= {low:g}"
        diags.add(Problem(f"must be {bounds}, got {value:g}", path=path))


def whole(value: Any) -> Any:
    """A number the API counts with as an int (Terraform sends whole numbers as ints or floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
