"""An application's Kafka endpoint declared in Terraform: applied, shown by the platform, an empty plan
after (the lag the platform reports is not part of the resource), changed in place, and removed.

The platform has the test broker (Tansu, started by `scripts/services.sh start`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import Platform, running_platform
from tests.kafka_broker import KafkaBroker
from tests.terraform.conftest import TerraformIn
from tests.terraform.test_provider_resources import api, model_folder, module

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, kafka_broker: KafkaBroker) -> Iterator[Platform]:
    yield from running_platform(
        tmp_path_factory.mktemp("tf-kafka-platform"),
        HYDRO_RUNTIME="process",
        HYDRO_KAFKA_BOOTSTRAP_SERVERS=kafka_broker.bootstrap_servers,
    )


def hcl(folder: Path, app: str, kafka: str) -> str:
    return f"""
    resource "hydro_model_version" "scorer" {{
      source = "{folder}"
    }}
    resource "hydro_application" "app" {{
      name = "{app}"
      stage {{
        variant {{
          model   = hydro_model_version.scorer.model
          version = hydro_model_version.scorer.version
        }}
      }}
      {kafka}
    }}
    """


def test_a_kafka_endpoint_is_applied_kept_without_diff_changed_in_place_and_removed(
    platform: Platform, terraform_in: TerraformIn, kafka_broker: KafkaBroker, tmp_path: Path
) -> None:
    folder, _ = model_folder(tmp_path / "models")
    app = f"streamed-{uuid.uuid4().hex[:6]}"
    source = kafka_broker.topic("tf-in", partitions=2)
    endpoint = f"""kafka {{
        source_topic      = "{source}"
        destination_topic = "tf-out"
        error_topic       = "tf-err"
      }}"""
    root = module(tmp_path / "app", hcl(folder, app, endpoint))
    tf = terraform_in(root)
    tf.init()
    tf.apply()
    shown = api(platform, "GET", f"/applications/{app}").json()["kafka"]
    assert (shown["source_topic"], shown["error_topic"], shown["consumer_group"]) == (
        source,
        "tf-err",
        f"hydro.{app}",
    )
    assert tf.resources()["hydro_application.app"]["kafka"]["consumer_group"] == f"hydro.{app}"
    assert tf.plan().empty, tf.runs[-2].stdout

    (root / "main.tf").write_text((root / "main.tf").read_text().replace('"tf-err"', '"tf-dead-letters"'))
    assert tf.plan().changes == {"hydro_application.app": ["update"]}, tf.runs[-2].stdout
    tf.apply()
    assert api(platform, "GET", f"/applications/{app}").json()["kafka"]["error_topic"] == "tf-dead-letters"

    (root / "main.tf").write_text(
        module(tmp_path / "plain", hcl(folder, app, "")).joinpath("main.tf").read_text()
    )
    tf.apply()
    assert api(platform, "GET", f"/applications/{app}").json()["kafka"] is None
    assert tf.plan().empty, tf.runs[-2].stdout
    tf.destroy()
