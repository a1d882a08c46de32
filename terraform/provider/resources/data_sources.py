"""Data sources: `hydro_model_version` (a given version, or the latest released one of a model) and
`hydro_application` (as declared, with its live replica counts per variant)."""

from __future__ import annotations

from terraform.provider.diagnostics import Diagnostics, Problem
from terraform.provider.platform import Platform, refused
from terraform.provider.resource import DataSource, State, integer, whole
from terraform.provider.schema import BOOL, NUMBER, STRING, Attribute, Block, list_of, map_of, object_of

VERSION = Block(
    attributes=(
        Attribute("model", STRING, "The model.", required=True),
        Attribute(
            "version",
            NUMBER,
            "A version number; left out: the latest released.",
            optional=True,
            computed=True,
        ),
        Attribute("status", STRING, "pending, building, released or failed.", computed=True),
        Attribute("image", STRING, "The built image (null on the process runtime).", computed=True),
        Attribute("created_at", STRING, "When it was uploaded.", computed=True),
    ),
    description="A model version: a given one, or the latest released.",
)
REPLICAS = object_of({"ready": NUMBER, "desired": NUMBER})
VARIANT = object_of(
    {"model": STRING, "version": NUMBER, "weight": NUMBER, "deployment_config": STRING, "replicas": REPLICAS}
)
KAFKA = object_of(
    {"source_topic": STRING, "destination_topic": STRING, "error_topic": STRING, "consumer_group": STRING}
)
APPLICATION = Block(
    attributes=(
        Attribute("name", STRING, "The application.", required=True),
        Attribute("sampling_rate", NUMBER, "Share of requests sampled to Sonar.", computed=True),
        Attribute("require_invoke_key", BOOL, "Whether callers need an invoke key.", computed=True),
        Attribute("invoke_urls", map_of(STRING), "Where it answers: http, v2 and grpc.", computed=True),
        Attribute("routable", BOOL, "Whether every router serves it.", computed=True),
        Attribute(
            "stages",
            list_of(object_of({"variants": list_of(VARIANT)})),
            "Its stages, in order, with each variant's live replicas (ready, desired; null: scaler unknown).",
            computed=True,
        ),
        Attribute("kafka", KAFKA, "Its Kafka endpoint, if any.", computed=True),
    ),
    description="An application as the platform serves it now.",
)


class ModelVersionData(DataSource):
    type_name = "hydro_model_version"
    block = VERSION

    def validate(self, config: State, diags: Diagnostics) -> None:
        integer(config.get("version"), "version", diags, minimum=1)

    def read(self, platform: Platform, config: State, diags: Diagnostics) -> State:
        from hydro.errors import HydroClientError

        model = config["model"]
        try:
            if config.get("version") is not None:
                version = platform.client().version(model, int(config["version"]))
            else:
                released = [v for v in platform.client().versions(model) if v.status == "released"]
                if not released:
                    raise Problem(f"model {model!r} has no released version", path="model")
                version = max(released, key=lambda v: v.version)
        except HydroClientError as exc:
            raise refused(exc, VERSION, doing=f"reading model {model!r}") from None
        return {
            "model": version.model,
            "version": version.version,
            "status": version.status,
            "image": version.image,
            "created_at": version.created_at,
        }


class ApplicationData(DataSource):
    type_name = "hydro_application"
    block = APPLICATION

    def read(self, platform: Platform, config: State, diags: Diagnostics) -> State:
        from hydro.errors import HydroClientError

        try:
            answer = platform.client().application(config["name"])
        except HydroClientError as exc:
            raise refused(exc, APPLICATION, doing=f"reading application {config['name']!r}") from None
        kafka = answer.kafka
        return {
            "name": answer.name,
            "sampling_rate": whole(answer.sampling_rate),
            "require_invoke_key": answer.require_invoke_key,
            "invoke_urls": dict(answer.invoke_urls),
            "routable": answer.routable,
            "stages": [
                {
                    "variants": [
                        {
                            "model": v.model,
                            "version": v.version,
                            "weight": v.weight,
                            "deployment_config": v.deployment_config,
                            "replicas": None
                            if v.replicas is None
                            else {"ready": v.replicas.ready, "desired": v.replicas.desired},
                        }
                        for v in stage
                    ]
                }
                for stage in answer.stages
            ],
            "kafka": None
            if kafka is None
            else {
                "source_topic": kafka.source_topic,
                "destination_topic": kafka.destination_topic,
                "error_topic": kafka.error_topic,
                "consumer_group": kafka.consumer_group,
            },
        }
