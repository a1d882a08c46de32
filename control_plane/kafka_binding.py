"""An application's Kafka endpoint as declared: the topics it reads and writes and its consumer group.

Topic names follow Kafka's own rule (what its brokers accept): 1 to 249 characters of a-z, A-Z, 0-9,
'.', '_' and '-', and neither "." nor "..". Kafka allows almost any string as a group id; Hydro holds
group ids to the topic rule, so the default `hydro.<app>` and every declared group read the same in
logs, metrics and shell commands.

The three topics must differ: an answer written to the source would be read again (a loop), and errors
never go to the destination, where consumers expect answers only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from control_plane.errors import InvalidRequest
from control_plane.kafka_lag import NOT_CONFIGURED, Lags, Source
from control_plane.tables import KAFKA_NAME_LENGTH, Application

MAX_NAME = KAFKA_NAME_LENGTH
NAME_PATTERN = r"^[a-zA-Z0-9._-]+$"
NAME_RULE = f"1 to {MAX_NAME} characters of a-z, A-Z, 0-9, '.', '_' and '-', and neither '.' nor '..'"


def _not_dots(value: str) -> str:
    if value in (".", ".."):
        raise ValueError(f"Kafka refuses {value!r} as a name; use {NAME_RULE}")
    return value


KafkaName = Annotated[
    str,
    Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN, description=f"Kafka name: {NAME_RULE}"),
    AfterValidator(_not_dots),
]


class KafkaSpec(BaseModel):
    """The `kafka` object of `PUT /applications/{app}`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    source_topic: KafkaName
    destination_topic: KafkaName
    error_topic: KafkaName = Field(
        description="Where messages that cannot be served go (required: nothing is dropped silently, and "
        "errors never go to the destination topic)"
    )
    consumer_group: KafkaName | None = Field(default=None, description="Default: `hydro.<app>`")


@dataclass(frozen=True)
class KafkaBinding:
    """A checked declaration, with its consumer group filled in."""

    source_topic: str
    destination_topic: str
    error_topic: str
    consumer_group: str

    def to_json(self) -> dict[str, str]:
        return {
            "source_topic": self.source_topic,
            "destination_topic": self.destination_topic,
            "error_topic": self.error_topic,
            "consumer_group": self.consumer_group,
        }


def default_group(app: str) -> str:
    return f"hydro.{app}"


def binding_of(app: str, spec: KafkaSpec) -> KafkaBinding:
    """The binding `spec` declares for application `app`; InvalidRequest naming the fields when two of its
    topics are the same."""
    pairs = (
        ("destination_topic", spec.destination_topic, "source_topic", spec.source_topic),
        ("error_topic", spec.error_topic, "source_topic", spec.source_topic),
        ("error_topic", spec.error_topic, "destination_topic", spec.destination_topic),
    )
    for field, value, other, other_value in pairs:
        if value == other_value:
            raise InvalidRequest(
                f"application {app!r}: kafka.{field}: {value!r} is also kafka.{other}; the source, "
                "destination and error topics must be three different topics"
            )
    return KafkaBinding(
        source_topic=spec.source_topic,
        destination_topic=spec.destination_topic,
        error_topic=spec.error_topic,
        consumer_group=spec.consumer_group or default_group(app),
    )


def store_binding(application: Application, kafka: KafkaBinding | None) -> None:
    application.kafka_source_topic = None if kafka is None else kafka.source_topic
    application.kafka_destination_topic = None if kafka is None else kafka.destination_topic
    application.kafka_error_topic = None if kafka is None else kafka.error_topic
    application.kafka_consumer_group = None if kafka is None else kafka.consumer_group


def kafka_of(application: Application) -> KafkaBinding | None:
    """The application's Kafka endpoint, None when it has none."""
    if application.kafka_source_topic is None:
        return None
    return KafkaBinding(
        source_topic=application.kafka_source_topic,
        destination_topic=application.kafka_destination_topic or "",
        error_topic=application.kafka_error_topic or "",
        consumer_group=application.kafka_consumer_group or "",
    )


def lag_sources(applications: list[Application]) -> list[Source]:
    """What the lags of these applications' Kafka endpoints are read of (`kafka_lag.LagReader.read`)."""
    return [
        (kafka.source_topic, kafka.consumer_group)
        for kafka in map(kafka_of, applications)
        if kafka is not None
    ]


def describe_kafka(application: Application, lags: Lags) -> dict[str, Any] | None:
    kafka = kafka_of(application)
    if kafka is None:
        return None
    lag = lags.get((kafka.source_topic, kafka.consumer_group), NOT_CONFIGURED)
    if isinstance(lag, str):
        return {**kafka.to_json(), "lag": None, "lag_error": lag}
    return {**kafka.to_json(), "lag": lag.to_json(), "lag_error": None}
