"""How every Hydro process reaches the Kafka brokers: the aiokafka client options the settings describe.

One place turns `HYDRO_KAFKA_*` into the keyword arguments aiokafka's producer, consumer and admin client
take, so the router's Kafka edge and the control plane's lag lookups connect the same way.
"""

from __future__ import annotations

import ssl
from typing import Any

from servicekit.settings import ServiceSettings


class KafkaNotConfigured(RuntimeError):
    """A Kafka client was asked for while `HYDRO_KAFKA_BOOTSTRAP_SERVERS` is empty."""


def kafka_enabled(settings: ServiceSettings) -> bool:
    return bool(settings.kafka_bootstrap_servers.strip())


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """Keyword arguments for `AIOKafkaProducer`, `AIOKafkaConsumer` and `AIOKafkaAdminClient`."""
    servers = [s.strip() for s in settings.kafka_bootstrap_servers.split(",") if s.strip()]
    if not servers:
        raise KafkaNotConfigured("no Kafka brokers: set HYDRO_KAFKA_BOOTSTRAP_SERVERS (host:port,...)")
    options: dict[str, Any] = {
        "bootstrap_servers": servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_ca_file) if settings.kafka_ssl_ca_file else None
        )
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = password.get_secret_value() if password else ""
    return options
