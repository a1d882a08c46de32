"""The Hydro provider: its configuration block and the resources and data sources it offers."""

from __future__ import annotations

from terraform.provider.resource import DataSource, Resource
from terraform.provider.schema import STRING, Attribute, Block

SOURCE_ADDRESS = "hydro/hydro"

PROVIDER = Block(
    attributes=(
        Attribute(
            "endpoint",
            STRING,
            "The control plane's URL (default: HYDRO_CONTROL_PLANE_URL, else http://127.0.0.1:8080).",
            optional=True,
        ),
        Attribute(
            "token",
            STRING,
            "An API token with the deployer or admin role (default: HYDRO_TOKEN, else the token `hydro up` "
            "wrote).",
            optional=True,
            sensitive=True,
        ),
        Attribute(
            "ca_file",
            STRING,
            "A PEM CA certificate to trust for an https:// endpoint (default: HYDRO_TLS_CA_FILE).",
            optional=True,
        ),
    ),
    description="Hydro: serverless model serving.",
)


def resources() -> dict[str, Resource]:
    from terraform.provider.resources.application import ApplicationResource
    from terraform.provider.resources.deployment_config import DeploymentConfigResource
    from terraform.provider.resources.invoke_key import InvokeKeyResource
    from terraform.provider.resources.model_version import ModelVersionResource
    from terraform.provider.resources.monitoring import MonitoringResource

    kinds: list[type[Resource]] = [
        DeploymentConfigResource,
        ModelVersionResource,
        ApplicationResource,
        MonitoringResource,
        InvokeKeyResource,
    ]
    return {kind.type_name: kind() for kind in kinds}


def data_sources() -> dict[str, DataSource]:
    from terraform.provider.resources.data_sources import ApplicationData, ModelVersionData

    kinds: list[type[DataSource]] = [ModelVersionData, ApplicationData]
    return {kind.type_name: kind() for kind in kinds}
