"""`hydro_application`: a pipeline of `stage` blocks, in order, each of weighted `variant` blocks, with an
optional `kafka` endpoint (PUT /applications/{name}, idempotent).

Weights are integers, so a plan compares them exactly. The live replica counts the API reports per variant
are not part of the resource (they change with traffic, and a planned value would fight the autoscaler):
read them from the `hydro_application` data source. An apply returns once the platform accepted the
declaration; with `wait_until_routable = true` it waits (up to a minute) until every router serves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from terraform.provider.diagnostics import Diagnostics, Problem
from terraform.provider.platform import Platform, missing, refused
from terraform.provider.resource import Planned, Resource, State, differs, given, integer, number, whole
from terraform.provider.schema import BOOL, NUMBER, STRING, Attribute, Block, NestedBlock, map_of
from terraform.provider.values import UNKNOWN

if TYPE_CHECKING:
    from hydro.resources import Application

DEFAULT_WEIGHT = 100
DEFAULT_CONFIG = "default"
ROUTABLE_WAIT_S = 60.0
"""The longest wait the control plane grants a PUT (`?wait=true&timeout_s=`)."""
DECLARED = ("name", "sampling_rate", "require_invoke_key", "stage", "kafka")

VARIANT = Block(
    attributes=(
        Attribute("model", STRING, "The model.", required=True),
        Attribute("version", NUMBER, "The model's version number.", required=True),
        Attribute(
            "weight",
            NUMBER,
            f"Share of the stage's requests, an integer >= 0 (0: a shadow). Default {DEFAULT_WEIGHT}.",
            optional=True,
            computed=True,
        ),
        Attribute(
            "deployment_config",
            STRING,
            f"The deployment config the version runs with. Default {DEFAULT_CONFIG!r}.",
            optional=True,
            computed=True,
        ),
    )
)
KAFKA = Block(
    attributes=(
        Attribute("source_topic", STRING, "The topic requests are read from.", required=True),
        Attribute("destination_topic", STRING, "The topic answers are written to.", required=True),
        Attribute("error_topic", STRING, "The topic failed requests go to.", required=True),
        Attribute(
            "consumer_group",
            STRING,
            "The consumer group. Default hydro.<application>.",
            optional=True,
            computed=True,
        ),
    )
)
BLOCK = Block(
    attributes=(
        Attribute(
            "name", STRING, "The application's name (changing it makes a new application).", required=True
        ),
        Attribute(
            "sampling_rate",
            NUMBER,
            "Share of requests sampled to Sonar, 0 to 1. Default 1.",
            optional=True,
            computed=True,
        ),
        Attribute(
            "require_invoke_key",
            BOOL,
            "Whether callers must present an invoke key. Default false.",
            optional=True,
            computed=True,
        ),
        Attribute(
            "wait_until_routable",
            BOOL,
            "Wait (up to a minute) until every router serves the declaration. Default false.",
            optional=True,
            computed=True,
        ),
        Attribute("invoke_urls", map_of(STRING), "Where it answers: http, v2 and grpc.", computed=True),
        Attribute("routable", BOOL, "Whether every router served it when last seen.", computed=True),
    ),
    blocks=(
        NestedBlock(
            "stage",
            Block(attributes=(), blocks=(NestedBlock("variant", VARIANT, nesting="list", min_items=1),)),
            nesting="list",
            min_items=1,
        ),
        NestedBlock("kafka", KAFKA, nesting="single"),
    ),
    description="An application: stages of weighted model versions, served over HTTP, gRPC and Kafka.",
)


class ApplicationResource(Resource):
    type_name = "hydro_application"
    block = BLOCK

    def validate(self, config: State, diags: Diagnostics) -> None:
        number(config.get("sampling_rate"), "sampling_rate", diags, low=0, high=1)
        for s, stage in enumerate(_list(config.get("stage"))):
            for v, variant in enumerate(_list(stage.get("variant"))):
                integer(variant.get("weight"), f"stage[{s}].variant[{v}].weight", diags)
                integer(variant.get("version"), f"stage[{s}].variant[{v}].version", diags, minimum=1)

    def plan(self, platform: Platform, prior: State | None, config: State, diags: Diagnostics) -> Planned:
        name = config["name"]
        planned: State = {
            "name": name,
            "sampling_rate": given(config, "sampling_rate", 1.0),
            "require_invoke_key": given(config, "require_invoke_key", False),
            "wait_until_routable": given(config, "wait_until_routable", False),
            "stage": [
                {
                    "variant": [
                        {
                            "model": variant["model"],
                            "version": variant["version"],
                            "weight": given(variant, "weight", DEFAULT_WEIGHT),
                            "deployment_config": given(variant, "deployment_config", DEFAULT_CONFIG),
                        }
                        for variant in _list(stage.get("variant"))
                    ]
                }
                for stage in _list(config.get("stage"))
            ]
            if config.get("stage") is not UNKNOWN
            else UNKNOWN,
            "kafka": _planned_kafka(config.get("kafka"), name),
        }
        renamed = prior is not None and prior["name"] != name
        if prior is None or renamed:
            return Planned(
                {**planned, "invoke_urls": UNKNOWN, "routable": UNKNOWN}, replace=["name"] if renamed else []
            )
        planned["invoke_urls"] = prior["invoke_urls"]
        planned["routable"] = UNKNOWN if differs(prior, planned, DECLARED) else prior["routable"]
        return Planned(planned)

    def create(self, platform: Platform, planned: State, diags: Diagnostics) -> State:
        return self._put(platform, planned, diags)

    def update(self, platform: Platform, prior: State, planned: State, diags: Diagnostics) -> State:
        return self._put(platform, planned, diags)

    def delete(self, platform: Platform, prior: State, diags: Diagnostics) -> None:
        from hydro.errors import HydroClientError

        try:
            platform.client().delete_application(prior["name"])
        except HydroClientError as exc:
            if not missing(exc):
                raise refused(exc, BLOCK, doing=f"deleting application {prior['name']!r}") from None

    def read(self, platform: Platform, state: State, diags: Diagnostics) -> State | None:
        from hydro.errors import HydroClientError

        try:
            answer = platform.client().application(state["name"])
        except HydroClientError as exc:
            if missing(exc):
                return None
            raise refused(exc, BLOCK, doing=f"reading application {state['name']!r}") from None
        return _state(answer, wait=state.get("wait_until_routable") or False)

    def import_state(self, platform: Platform, id_: str, diags: Diagnostics) -> State:
        found = self.read(platform, {"name": id_}, diags)
        if found is None:
            raise Problem(f"application {id_!r} does not exist")
        return found

    def _put(self, platform: Platform, planned: State, diags: Diagnostics) -> State:
        from hydro.errors import HydroClientError
        from hydro.resources import KafkaEndpoint, Variant

        stages = [
            [
                Variant(
                    v["model"],
                    int(v["version"]),
                    weight=int(v["weight"]),
                    deployment_config=v["deployment_config"],
                )
                for v in stage["variant"]
            ]
            for stage in planned["stage"]
        ]
        kafka = planned.get("kafka")
        wait = bool(planned["wait_until_routable"])
        try:
            answer = platform.client().put_application(
                planned["name"],
                stages,
                sampling_rate=float(planned["sampling_rate"]),
                require_invoke_key=bool(planned["require_invoke_key"]),
                kafka=None if kafka is None else KafkaEndpoint(**{k: kafka[k] for k in KAFKA_FIELDS}),
                wait_s=ROUTABLE_WAIT_S if wait else None,
            )
        except HydroClientError as exc:
            raise refused(exc, BLOCK, doing=f"declaring application {planned['name']!r}") from None
        if wait and answer.routable is False:
            diags.warn(
                f"application {planned['name']!r} is declared but not routable yet: "
                f"{answer.routable_reason or 'no reason given'}",
                path="wait_until_routable",
            )
        return _state(answer, wait=wait)


KAFKA_FIELDS = ("source_topic", "destination_topic", "error_topic", "consumer_group")


def _planned_kafka(kafka: Any, name: Any) -> State | None:
    if kafka is None:
        return None
    group = kafka.get("consumer_group")
    if group is None:
        group = UNKNOWN if name is UNKNOWN else f"hydro.{name}"
    return {**kafka, "consumer_group": group}


def _state(answer: Application, *, wait: bool) -> State:
    kafka = answer.kafka
    return {
        "name": answer.name,
        "sampling_rate": whole(answer.sampling_rate),
        "require_invoke_key": answer.require_invoke_key,
        "wait_until_routable": wait,
        "invoke_urls": dict(answer.invoke_urls),
        "routable": answer.routable,
        "stage": [
            {
                "variant": [
                    {
                        "model": v.model,
                        "version": v.version,
                        "weight": v.weight,
                        "deployment_config": v.deployment_config,
                    }
                    for v in stage
                ]
            }
            for stage in answer.stages
        ],
        "kafka": None if kafka is None else {k: getattr(kafka, k) for k in KAFKA_FIELDS},
    }


def _list(value: Any) -> list[Any]:
    """A list block's items (none while unknown)."""
    return value if isinstance(value, list) else []
