"""Each resource of the provider through the real Terraform engine against a running platform: applied, a
second plan empty, changed in place, changed behind Terraform's back (drift, then restored), imported by
name with an empty plan after, destroyed with nothing left; and mistakes named by attribute."""

from __future__ import annotations

import shutil
import textwrap
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.platform import Platform
from tests.terraform.conftest import TerraformIn
from tests.terraform.harness import EXAMPLES, diagnostics

pytestmark = pytest.mark.slow

NO_LIFECYCLE = "# no lifecycle"
PROVIDER = """
terraform {
  required_providers {
    hydro = { source = "hydro/hydro" }
  }
}
provider "hydro" {}
"""


def api(platform: Platform, method: str, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{platform.api}{path}", headers=platform.headers(), timeout=30, **kwargs)


def module(folder: Path, hcl: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text(PROVIDER + textwrap.dedent(hcl))
    return folder


def model_folder(dest: Path) -> tuple[Path, str]:
    """The canary example's stable model under a name of its own (tests share one platform)."""
    name = f"scorer-{uuid.uuid4().hex[:6]}"
    folder = dest / name
    shutil.copytree(EXAMPLES / "canary" / "models" / "stable", folder)
    manifest = folder / "hydro.yaml"
    text = manifest.read_text()
    assert text.count("name: scorer\n") == 1, text
    manifest.write_text(text.replace("name: scorer\n", f"name: {name}\n"))
    return folder, name


def test_deployment_config_lifecycle(platform: Platform, terraform_in: TerraformIn, tmp_path: Path) -> None:
    name = f"small-{uuid.uuid4().hex[:6]}"
    hcl = f"""
    resource "hydro_deployment_config" "small" {{
      name                  = "{name}"
      max_replicas          = 4
      container_concurrency = 8
    }}
    """
    tf = terraform_in(module(tmp_path / "configs", hcl))
    tf.init()
    tf.apply()
    config = api(platform, "GET", f"/deployment-configs/{name}").json()
    assert (config["max_replicas"], config["container_concurrency"], config["min_replicas"]) == (4, 8, 0)
    # The knobs left out hold the platform's defaults, so nothing is left to plan.
    assert tf.resources()["hydro_deployment_config.small"]["scale_to_zero_grace_s"] == 30
    assert tf.plan().empty, tf.runs[-2].stdout

    # Changed behind Terraform's back: the next plan shows the drift and an in-place update; apply undoes it.
    assert api(platform, "PUT", f"/deployment-configs/{name}", json={"max_replicas": 9}).status_code == 200
    plan = tf.plan()
    assert plan.drift == {"hydro_deployment_config.small": ["update"]}
    assert plan.changes == {"hydro_deployment_config.small": ["update"]}
    after = plan.change("hydro_deployment_config.small")["after"]
    assert (after["max_replicas"], after["container_concurrency"]) == (4, 8)
    tf.apply()
    assert api(platform, "GET", f"/deployment-configs/{name}").json()["container_concurrency"] == 8

    # A knob's line removed: the platform's default comes back.
    (tmp_path / "configs" / "main.tf").write_text(
        PROVIDER + textwrap.dedent(hcl.replace("max_replicas          = 4\n", ""))
    )
    assert tf.plan().change("hydro_deployment_config.small")["after"]["max_replicas"] == 0
    tf.apply()
    assert api(platform, "GET", f"/deployment-configs/{name}").json()["max_replicas"] == 0

    # Imported by name into another working directory: its plan is empty.
    other = terraform_in(module(tmp_path / "imported", hcl.replace("max_replicas          = 4\n", "")))
    other.init()
    other.import_("hydro_deployment_config.small", name)
    assert other.plan().empty, other.runs[-2].stdout

    tf.destroy()
    assert api(platform, "GET", f"/deployment-configs/{name}").status_code == 404


def test_versions_applications_monitoring_keys(
    platform: Platform, terraform_in: TerraformIn, tmp_path: Path
) -> None:
    folder, model = model_folder(tmp_path / "models")
    app = f"app-{uuid.uuid4().hex[:6]}"
    hcl = f"""
    resource "hydro_model_version" "scorer" {{
      source = "{folder}"
      timeouts {{
        create = "5m"
      }}
      # no lifecycle
    }}
    resource "hydro_application" "app" {{
      name = "{app}"
      stage {{
        variant {{
          model   = hydro_model_version.scorer.model
          version = hydro_model_version.scorer.version
        }}
      }}
      wait_until_routable = true
    }}
    resource "hydro_monitoring" "scorer" {{
      model   = hydro_model_version.scorer.model
      version = hydro_model_version.scorer.version
      cron    = "0  * * * *"
      window  = "60m"
      thresholds {{
        psi = 0.3
      }}
    }}
    resource "hydro_invoke_key" "client" {{
      application = hydro_application.app.name
      name        = "client"
    }}
    data "hydro_model_version" "latest" {{
      model      = hydro_model_version.scorer.model
      depends_on = [hydro_model_version.scorer]
    }}
    data "hydro_application" "app" {{
      name       = hydro_application.app.name
      depends_on = [hydro_application.app]
    }}
    output "latest" {{
      value = data.hydro_model_version.latest.version
    }}
    output "replicas" {{
      value = data.hydro_application.app.stages[0].variants[0].replicas
    }}
    """
    root = module(tmp_path / "app", hcl)
    tf = terraform_in(root)
    tf.init()
    tf.apply()
    state = tf.resources()
    version = state["hydro_model_version.scorer"]
    assert (version["model"], version["status"]) == (model, "released")
    application = state["hydro_application.app"]
    assert application["routable"] is True
    assert set(application["invoke_urls"]) == {"http", "v2", "grpc"}
    assert application["stage"][0]["variant"][0] == {
        "model": model,
        "version": version["version"],
        "weight": 100,
        "deployment_config": "default",
    }
    # The window as written stays ("60m"; the platform says "1h"), the cron's spacing too.
    monitoring = state["hydro_monitoring.scorer"]
    assert (monitoring["window"], monitoring["window_s"], monitoring["thresholds"]["psi"]) == (
        "60m",
        3600,
        0.3,
    )
    assert (
        api(platform, "GET", f"/models/{model}/versions/{version['version']}/monitoring").json()["window"]
        == "1h"
    )
    key = tf.outputs()
    assert key["latest"] == version["version"]
    assert set(key["replicas"]) == {"ready", "desired"}
    invoke_key = state["hydro_invoke_key.client"]["key"]
    ids = [k["id"] for k in api(platform, "GET", f"/applications/{app}/invoke-keys").json()["invoke_keys"]]
    assert ids == [state["hydro_invoke_key.client"]["id"]] and invoke_key.startswith("hk_")
    assert tf.plan().empty, tf.runs[-2].stdout

    # A weight and a sampling rate changed: in place; a file changed: a new version replaces the old one,
    # and the application and monitoring follow it.
    (root / "main.tf").write_text(
        PROVIDER
        + textwrap.dedent(hcl.replace("      wait_until_routable = true", "      sampling_rate = 0.5"))
    )
    assert tf.plan().changes == {"hydro_application.app": ["update"]}
    (folder / "params.json").write_text((folder / "params.json").read_text().replace("stable", "stable-2"))
    plan = tf.plan()
    assert plan.changes == {
        "hydro_model_version.scorer": ["delete", "create"],
        "hydro_application.app": ["update"],
        "hydro_monitoring.scorer": ["delete", "create"],
    }, plan.run.stdout
    # Without create_before_destroy the old version is deleted first, which the platform refuses while
    # the application routes to it: the refusal is the platform's own message.
    refused = tf.apply(check=False)
    assert refused.code != 0
    assert "refused to delete" in diagnostics(refused) and app in diagnostics(refused), refused.describe()
    text = (root / "main.tf").read_text()
    (root / "main.tf").write_text(
        text.replace(NO_LIFECYCLE, "lifecycle {\n    create_before_destroy = true\n  }")
    )
    tf.apply()
    state = tf.resources()
    assert state["hydro_model_version.scorer"]["version"] != version["version"]
    assert state["hydro_application.app"]["sampling_rate"] == 0.5
    assert api(platform, "GET", f"/models/{model}/versions/{version['version']}").status_code == 404
    assert tf.plan().empty, tf.runs[-2].stdout

    # The monitoring taken out of the configuration: its schedule is deleted, the version stays.
    text = (root / "main.tf").read_text()
    start = text.index('resource "hydro_monitoring" "scorer" {')
    (root / "main.tf").write_text(text[:start] + text[text.index("\n}\n", start) + 3 :])
    assert tf.plan().changes == {"hydro_monitoring.scorer": ["delete"]}, tf.runs[-2].stdout
    tf.apply()
    current = state["hydro_model_version.scorer"]["version"]
    assert api(platform, "GET", f"/models/{model}/versions/{current}/monitoring").status_code == 404
    assert api(platform, "GET", f"/models/{model}/versions/{current}").status_code == 200

    # The application imported by name (as the CLI or the API made it): the plan after is empty.
    other = terraform_in(
        module(
            tmp_path / "import",
            f"""
            resource "hydro_application" "app" {{
              name          = "{app}"
              sampling_rate = 0.5
              stage {{
                variant {{
                  model   = "{model}"
                  version = {state["hydro_model_version.scorer"]["version"]}
                }}
              }}
            }}
            """,
        )
    )
    other.init()
    other.import_("hydro_application.app", app)
    assert other.plan().empty, other.runs[-2].stdout

    tf.destroy()
    assert api(platform, "GET", f"/applications/{app}").status_code == 404
    assert api(platform, "GET", f"/models/{model}/versions").json()["versions"] == []


@pytest.mark.parametrize(
    ("mistake", "hcl", "named"),
    [
        (
            "a fractional weight",
            'stage {\n variant {\n model = "m"\n version = 1\n weight = 2.5\n }\n }',
            ["stage[0].variant[0].weight", "whole number"],
        ),
        (
            "a sampling rate above 1",
            'sampling_rate = 2\n stage {\n variant {\n model = "m"\n version = 1\n }\n }',
            ["sampling_rate", "from 0 to 1"],
        ),
        (
            "a second stage without variants",
            'stage {\n variant {\n model = "m"\n version = 1\n }\n }\n stage {}',
            ["variant"],
        ),
    ],
)
def test_a_bad_application_is_named_before_anything_is_applied(
    terraform_in: TerraformIn, tmp_path: Path, mistake: str, hcl: str, named: list[str]
) -> None:
    tf = terraform_in(
        module(tmp_path / "bad", f'resource "hydro_application" "app" {{\n name = "x"\n {hcl}\n}}\n')
    )
    tf.init()
    run = tf.plan(check=False).run
    assert run.code == 1, f"{mistake} was planned:\n{run.describe()}"
    for words in named:
        assert words in diagnostics(run), f"{mistake}: {words!r} not named:\n{run.describe()}"
    assert "Traceback" not in run.output


def test_platform_refusals_name_the_attribute(
    platform: Platform, terraform_in: TerraformIn, tmp_path: Path
) -> None:
    """What only the platform can check (a Kafka endpoint on a platform without brokers, a cron that is
    not one) comes back as a diagnostic on the attribute, with the platform's own words."""
    folder, model = model_folder(tmp_path / "models")
    tf = terraform_in(
        module(
            tmp_path / "refused",
            f"""
            resource "hydro_model_version" "scorer" {{
              source = "{folder}"
            }}
            resource "hydro_monitoring" "scorer" {{
              model   = hydro_model_version.scorer.model
              version = hydro_model_version.scorer.version
              cron    = "every hour"
              window  = "1h"
            }}
            resource "hydro_deployment_config" "tiny" {{
              name      = "tiny-{uuid.uuid4().hex[:6]}"
              panic_threshold_pct = 50
            }}
            """,
        )
    )
    tf.init()
    run = tf.apply(check=False)
    said = diagnostics(run)
    assert run.code == 1
    assert "\nError: cron: 'every hour' is not a cron expression" in said, run.describe()
    assert "panic_threshold_pct: Input should be greater than 100" in said, run.describe()
    assert "Traceback" not in run.output
    tf.destroy()
    assert api(platform, "GET", f"/models/{model}/versions").json()["versions"] == []
