"""The variants one request goes through: one drawn by weight per stage of its application."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from router.errors import NotReleasedError
from router.routing import Route, Version
from wire.signature import Signature


@dataclass(frozen=True)
class Plan:
    """The variants one request goes through, one per stage."""

    route: Route
    versions: tuple[Version, ...]

    @property
    def signature(self) -> Signature:
        """The drawn first stage's signature: what the caller must send."""
        return self.versions[0].signature


def draw(route: Route, random: Callable[[], float]) -> Plan:
    """Draw one variant per stage by weight; raise NotReleasedError if a stage has none."""
    for number, stage in enumerate(route.stages, start=1):
        if not stage.variants:
            waiting = ", ".join(stage.unreleased) or "no version with a weight above 0"
            raise NotReleasedError(
                f"application {route.name!r}: stage {number} has no released version to route to ({waiting})"
            )
    if not route.stages:
        raise NotReleasedError(f"application {route.name!r} has no stages")
    return Plan(route, route.plan(random))


def signature_of(route: Route) -> Signature:
    """The application's signature (first stage's inputs, last stage's outputs); raise NotReleasedError
    naming the stage that has no released version."""
    signature = route.signature
    if signature is None:
        draw(route, lambda: 0.0)  # raises NotReleasedError naming the stage
        raise NotReleasedError(f"application {route.name!r} cannot be routed yet")
    return signature
