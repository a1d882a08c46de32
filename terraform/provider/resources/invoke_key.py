"""`hydro_invoke_key`: a key that opens one application (POST .../invoke-keys); the key itself is
shown once, at create, so it lives in the state only (sensitive).

The platform's keys have no names: `name` is the key's label in the configuration (a change makes a new
key), and the key is found again by its `id`.
"""

from __future__ import annotations

from terraform.provider.diagnostics import Diagnostics
from terraform.provider.platform import Platform, missing, refused
from terraform.provider.resource import Planned, Resource, State
from terraform.provider.schema import STRING, Attribute, Block
from terraform.provider.values import UNKNOWN

BLOCK = Block(
    attributes=(
        Attribute("application", STRING, "The application the key opens.", required=True),
        Attribute("name", STRING, "The key's label in this configuration.", required=True),
        Attribute("id", STRING, "The platform's id of the key.", computed=True),
        Attribute("prefix", STRING, "The key's first characters, as listings show them.", computed=True),
        Attribute(
            "key", STRING, "The key: send it as Authorization: Bearer <key>.", computed=True, sensitive=True
        ),
    ),
    description="An invoke key of an application that sets require_invoke_key.",
)


class InvokeKeyResource(Resource):
    type_name = "hydro_invoke_key"
    block = BLOCK

    def plan(self, platform: Platform, prior: State | None, config: State, diags: Diagnostics) -> Planned:
        fresh = {
            "application": config["application"],
            "name": config["name"],
            "id": UNKNOWN,
            "prefix": UNKNOWN,
            "key": UNKNOWN,
        }
        if prior is None:
            return Planned(fresh)
        replace = [k for k in ("application", "name") if config[k] is UNKNOWN or config[k] != prior[k]]
        return Planned(fresh if replace else dict(prior), replace=replace)

    def create(self, platform: Platform, planned: State, diags: Diagnostics) -> State:
        from hydro.errors import HydroClientError

        try:
            created = platform.client().create_invoke_key(planned["application"])
        except HydroClientError as exc:
            raise refused(exc, BLOCK, doing=f"creating an invoke key of {planned['application']!r}") from None
        return {**planned, "id": created.id, "prefix": created.prefix, "key": created.key}

    def update(self, platform: Platform, prior: State, planned: State, diags: Diagnostics) -> State:
        return dict(prior)

    def delete(self, platform: Platform, prior: State, diags: Diagnostics) -> None:
        from hydro.errors import HydroClientError

        try:
            platform.client().revoke_invoke_key(prior["application"], prior["id"])
        except HydroClientError as exc:
            if not missing(exc):
                raise refused(exc, BLOCK, doing=f"revoking invoke key {prior['prefix']}...") from None

    def read(self, platform: Platform, state: State, diags: Diagnostics) -> State | None:
        from hydro.errors import HydroClientError

        try:
            keys = platform.client().invoke_keys(state["application"])
        except HydroClientError as exc:
            if missing(exc):
                return None
            raise refused(exc, BLOCK, doing=f"listing the invoke keys of {state['application']!r}") from None
        return dict(state) if any(key.id == state["id"] for key in keys) else None
