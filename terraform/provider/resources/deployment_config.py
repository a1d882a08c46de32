"""`hydro_deployment_config`: named scaling knobs (PUT /deployment-configs/{name}, idempotent).

Every knob is optional and plans the platform's default when left out (`DEFAULTS`, the control plane's
own; a test holds the two together), so the state always shows what the platform runs with and a second
plan is empty.
"""

from __future__ import annotations

from typing import Any

from terraform.provider.diagnostics import Diagnostics, Problem
from terraform.provider.platform import Platform, missing, refused
from terraform.provider.resource import Planned, Resource, State, given, integer, number, whole
from terraform.provider.schema import NUMBER, STRING, Attribute, Block

INTEGER_KNOBS: dict[str, tuple[int, str]] = {
    "min_replicas": (0, "Replicas kept even when idle (0: scale to zero)."),
    "max_replicas": (0, "Most replicas (0: no limit)."),
    "container_concurrency": (0, "Requests one replica takes at once, a hard limit (0: unlimited)."),
    "initial_scale": (1, "Replicas started when the version first serves."),
    "memory_mb": (512, "Memory limit of one replica, in MiB."),
    "max_queue": (1000, "Requests held per version while replicas start or are busy."),
}
NUMBER_KNOBS: dict[str, tuple[float, str]] = {
    "target_concurrency": (100.0, "Requests per replica the autoscaler aims at (soft)."),
    "scale_to_zero_grace_s": (30.0, "Seconds idle before the last replica stops."),
    "stable_window_s": (60.0, "Seconds of load the autoscaler averages over."),
    "panic_window_pct": (10.0, "The panic window, in percent of the stable window."),
    "panic_threshold_pct": (200.0, "Load, in percent of capacity, that starts panic mode."),
    "cpu": (1.0, "CPUs of one replica."),
    "hold_timeout_s": (30.0, "Seconds a request waits for a cold start before 503."),
    "max_scale_up_rate": (1000.0, "Per decision, at most this many times the ready replicas."),
    "max_scale_down_rate": (2.0, "Per decision, at least the ready replicas divided by this."),
}
DEFAULTS: dict[str, Any] = {k: v for k, (v, _) in (INTEGER_KNOBS | NUMBER_KNOBS).items()}

BLOCK = Block(
    attributes=(
        Attribute("name", STRING, "The config's name (changing it makes a new config).", required=True),
        *(
            Attribute(k, NUMBER, f"{text} Default {default:g}.", optional=True, computed=True)
            for k, (default, text) in (INTEGER_KNOBS | NUMBER_KNOBS).items()
        ),
    ),
    description="Named, reusable scaling knobs for model versions (defaults follow Knative's KPA).",
)


class DeploymentConfigResource(Resource):
    type_name = "hydro_deployment_config"
    block = BLOCK

    def validate(self, config: State, diags: Diagnostics) -> None:
        for knob in INTEGER_KNOBS:
            integer(config.get(knob), knob, diags)
        for knob in NUMBER_KNOBS:
            number(config.get(knob), knob, diags, low=0)

    def plan(self, platform: Platform, prior: State | None, config: State, diags: Diagnostics) -> Planned:
        planned = {"name": config["name"], **{k: given(config, k, d) for k, d in DEFAULTS.items()}}
        return Planned(planned, replace=["name"] if prior and prior["name"] != planned["name"] else [])

    def create(self, platform: Platform, planned: State, diags: Diagnostics) -> State:
        return self._put(platform, planned)

    def update(self, platform: Platform, prior: State, planned: State, diags: Diagnostics) -> State:
        return self._put(platform, planned)

    def delete(self, platform: Platform, prior: State, diags: Diagnostics) -> None:
        from hydro.errors import HydroClientError

        try:
            platform.client().delete_deployment_config(prior["name"])
        except HydroClientError as exc:
            if not missing(exc):
                raise refused(exc, BLOCK, doing=f"deleting deployment config {prior['name']!r}") from None

    def read(self, platform: Platform, state: State, diags: Diagnostics) -> State | None:
        from hydro.errors import HydroClientError

        try:
            answer = platform.client().deployment_config(state["name"])
        except HydroClientError as exc:
            if missing(exc):
                return None
            raise refused(exc, BLOCK, doing=f"reading deployment config {state['name']!r}") from None
        return _state(answer)

    def import_state(self, platform: Platform, id_: str, diags: Diagnostics) -> State:
        found = self.read(platform, {"name": id_}, diags)
        if found is None:
            raise Problem(f"deployment config {id_!r} does not exist")
        return found

    def _put(self, platform: Platform, planned: State) -> State:
        from hydro.errors import HydroClientError

        knobs = {k: whole(planned[k]) for k in DEFAULTS}
        try:
            answer = platform.client().put_deployment_config(planned["name"], knobs)
        except HydroClientError as exc:
            raise refused(exc, BLOCK, doing=f"declaring deployment config {planned['name']!r}") from None
        return _state(answer)


def _state(answer: dict[str, Any]) -> State:
    return {"name": answer["name"], **{k: answer.get(k, d) for k, d in DEFAULTS.items()}}
