"""`hydro_monitoring`: when Sonar computes a model version's drift reports (PUT .../monitoring).

`window` is kept as written: the platform answers it in its own notation (`60m` comes back as `1h`), so
the resource compares the seconds (`window_s`) and keeps the user's text while they agree. `thresholds`
left out (or any of its keys) keep Sonar's defaults. The API has no way to delete a schedule: destroy
turns it off (`enabled = false`); deleting the version deletes its schedule.
"""

from __future__ import annotations

from typing import Any

from terraform.provider.diagnostics import Diagnostics, Problem
from terraform.provider.platform import Platform, missing, refused
from terraform.provider.resource import Planned, Resource, State, differs, given, integer
from terraform.provider.schema import BOOL, NUMBER, STRING, Attribute, Block, NestedBlock
from terraform.provider.values import UNKNOWN

DEFAULT_MAX_CATCH_UP = 24
THRESHOLDS: dict[str, tuple[Any, str]] = {
    "ks_pvalue": (NUMBER, "Kolmogorov-Smirnov p-value below which a numeric feature drifted."),
    "chi2_pvalue": (NUMBER, "Chi-square p-value below which a categorical feature drifted."),
    "psi": (NUMBER, "Population stability index above which a feature drifted."),
    "wasserstein": (NUMBER, "Wasserstein distance above which a feature drifted."),
    "jensenshannon": (NUMBER, "Jensen-Shannon distance above which a feature drifted."),
    "null_share": (NUMBER, "Share of nulls above which a feature drifted."),
    "drift_share": (NUMBER, "Share of drifted features above which the dataset drifted."),
    "correction": (STRING, "How p-values are corrected: benjamini-hochberg, bonferroni or none."),
    "min_rows": (NUMBER, "Fewest rows a window needs for a verdict."),
}
BLOCK = Block(
    attributes=(
        Attribute("model", STRING, "The model.", required=True),
        Attribute("version", NUMBER, "The model's version number.", required=True),
        Attribute(
            "cron", STRING, "When reports run: five cron fields in UTC, or @hourly, @daily ...", required=True
        ),
        Attribute("window", STRING, "The traffic each report covers, such as 1h.", required=True),
        Attribute("enabled", BOOL, "Whether the schedule runs. Default true.", optional=True, computed=True),
        Attribute(
            "max_catch_up",
            NUMBER,
            f"Most missed windows caught up after an outage. Default {DEFAULT_MAX_CATCH_UP}.",
            optional=True,
            computed=True,
        ),
        Attribute("window_s", NUMBER, "The window in seconds, as the platform counts it.", computed=True),
    ),
    blocks=(
        NestedBlock(
            "thresholds",
            Block(
                attributes=tuple(Attribute(k, t, text, optional=True) for k, (t, text) in THRESHOLDS.items())
            ),
            nesting="single",
        ),
    ),
    description="A model version's drift monitoring schedule.",
)


class MonitoringResource(Resource):
    type_name = "hydro_monitoring"
    block = BLOCK

    def validate(self, config: State, diags: Diagnostics) -> None:
        integer(config.get("version"), "version", diags, minimum=1)
        integer(config.get("max_catch_up"), "max_catch_up", diags, minimum=1)
        integer((config.get("thresholds") or {}).get("min_rows"), "thresholds.min_rows", diags, minimum=1)

    def plan(self, platform: Platform, prior: State | None, config: State, diags: Diagnostics) -> Planned:
        planned: State = {
            "model": config["model"],
            "version": config["version"],
            "cron": config["cron"],
            "window": config["window"],
            "enabled": given(config, "enabled", True),
            "max_catch_up": given(config, "max_catch_up", DEFAULT_MAX_CATCH_UP),
            "thresholds": config.get("thresholds"),
            "window_s": UNKNOWN,
        }
        if prior is None:
            return Planned(planned)
        replace = [k for k in ("model", "version") if planned[k] is UNKNOWN or planned[k] != prior[k]]
        if not replace and not differs(prior, planned, ("window",)):
            planned["window_s"] = prior["window_s"]
        return Planned(planned, replace=replace)

    def create(self, platform: Platform, planned: State, diags: Diagnostics) -> State:
        return self._put(platform, planned, enabled=bool(planned["enabled"]))

    def update(self, platform: Platform, prior: State, planned: State, diags: Diagnostics) -> State:
        return self._put(platform, planned, enabled=bool(planned["enabled"]))

    def delete(self, platform: Platform, prior: State, diags: Diagnostics) -> None:
        from hydro.errors import HydroClientError

        key = f"{prior['model']}:{prior['version']}"
        try:
            platform.client().delete_monitoring(prior["model"], int(prior["version"]))
        except HydroClientError as exc:
            if missing(exc):  # gone already, or its version is, and the schedule with it
                return
            raise refused(exc, BLOCK, doing=f"removing the monitoring of {key}") from None

    def read(self, platform: Platform, state: State, diags: Diagnostics) -> State | None:
        from hydro.errors import HydroClientError

        try:
            answer = platform.client().monitoring(state["model"], int(state["version"]))
        except HydroClientError as exc:
            if missing(exc):
                return None
            raise refused(
                exc, BLOCK, doing=f"reading the monitoring of {state['model']}:{state['version']}"
            ) from None
        window = answer.window
        if state.get("window") is not None and state.get("window_s") == answer.window_s:
            window = state["window"]
        given_thresholds = state.get("thresholds")
        return {
            "model": answer.model,
            "version": answer.version,
            "cron": answer.cron
            if answer.cron != " ".join(str(state.get("cron") or "").split())
            else state["cron"],
            "window": window,
            "window_s": answer.window_s,
            "enabled": answer.enabled,
            "max_catch_up": answer.max_catch_up,
            "thresholds": _thresholds(answer.thresholds, given_thresholds),
        }

    def import_state(self, platform: Platform, id_: str, diags: Diagnostics) -> State:
        model, _, number = id_.rpartition(":")
        if not model or not number.isdigit():
            raise Problem(f"import monitoring as MODEL:N (the model version it watches), not {id_!r}")
        found = self.read(platform, {"model": model, "version": int(number)}, diags)
        if found is None:
            raise Problem(f"{id_} has no monitoring schedule")
        return found

    def _put(self, platform: Platform, planned: State, *, enabled: bool) -> State:
        from hydro.errors import HydroClientError

        key = f"{planned['model']}:{planned['version']}"
        thresholds = {k: v for k, v in (planned.get("thresholds") or {}).items() if v is not None}
        if "min_rows" in thresholds:
            thresholds["min_rows"] = int(thresholds["min_rows"])
        try:
            answer = platform.client().put_monitoring(
                planned["model"],
                int(planned["version"]),
                cron=planned["cron"],
                window=planned["window"],
                thresholds=thresholds,
                enabled=enabled,
                max_catch_up=int(planned["max_catch_up"]),
            )
        except HydroClientError as exc:
            raise refused(exc, BLOCK, doing=f"setting the monitoring of {key}") from None
        return {
            **planned,
            "enabled": answer.enabled,
            "max_catch_up": answer.max_catch_up,
            "window_s": answer.window_s,
        }


def _thresholds(answered: dict[str, Any], given: State | None) -> State | None:
    """The platform's thresholds as the block: none set and no block written stays no block."""
    if not answered:
        return None if given is None else {k: None for k in THRESHOLDS}
    return {k: answered.get(k) for k in THRESHOLDS}
