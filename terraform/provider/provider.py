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
    from terraform.provider.resources.deployment_config import DeploymentConfigResource

    kinds: list[type[Resource]] = [
        DeploymentConfigResource,
    ]
    return {kind.type_name: kind() for kind in kinds}


def data_sources() -> dict[str, DataSource]:
    kinds: list[type[DataSource]] = []
    return {kind.type_name: kind() for kind in kinds}
