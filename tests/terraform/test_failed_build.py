"""A model version whose build fails: `terraform apply` ends with an error naming the failure and the build
log's tail (never a traceback), the platform holds the version as failed, and a fixed folder builds anew.

Docker runtime (the process runtime builds nothing, so nothing can fail there): the Docker engine, the
registry, the runtime base image and the wheelhouse, which `make test` sets up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import require_platform_parts
from tests.e2e.platform import Platform, running_platform
from tests.e2e.stories import wait_until
from tests.real_parts import BASE_IMAGE, REGISTRY
from tests.terraform.conftest import TerraformIn
from tests.terraform.harness import diagnostics
from tests.terraform.test_provider_resources import api, model_folder, module

pytestmark = [pytest.mark.slow, pytest.mark.docker]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    require_platform_parts()
    yield from running_platform(
        tmp_path_factory.mktemp("tf-docker-platform"),
        HYDRO_RUNTIME="docker",
        HYDRO_REGISTRY=REGISTRY,
        HYDRO_RUNTIME_BASE_IMAGE=BASE_IMAGE,
        HYDRO_WHEELHOUSE=os.environ.get("HYDRO_WHEELHOUSE", ""),
    )


def test_a_failed_build_is_an_error_with_the_log_tail_and_a_fixed_folder_builds_again(
    platform: Platform, terraform_in: TerraformIn, tmp_path: Path
) -> None:
    folder, model = model_folder(tmp_path / "models")
    (folder / "requirements.txt").write_text("hydro-no-such-package==9.9.9\n")
    manifest = folder / "hydro.yaml"
    manifest.write_text(manifest.read_text() + "requirements: requirements.txt\n")
    root = module(
        tmp_path / "app",
        f"""
        resource "hydro_model_version" "scorer" {{
          source = "{folder}"
          timeouts {{
            create = "5m"
          }}
        }}
        """,
    )
    tf = terraform_in(root)
    tf.init()

    failed = tf.apply(check=False)
    assert failed.code != 0
    said = diagnostics(failed)
    assert f"{model}:1" in said and "hydro-no-such-package" in said, failed.describe()
    assert "Traceback" not in failed.output
    version = api(platform, "GET", f"/models/{model}/versions/1").json()
    assert version["status"] == "failed", version

    # The requirement fixed: the next apply builds a new version and the plan after it is empty.
    (folder / "requirements.txt").write_text("")
    tf.apply()
    built = tf.resources()["hydro_model_version.scorer"]
    assert built["status"] == "released" and built["version"] == 2, built
    assert tf.plan().empty, tf.runs[-2].stdout
    tf.destroy()


def test_a_build_longer_than_timeouts_create_is_an_error_naming_the_setting(
    platform: Platform, terraform_in: TerraformIn, tmp_path: Path
) -> None:
    folder, model = model_folder(tmp_path / "models")
    root = module(
        tmp_path / "app",
        f"""
        resource "hydro_model_version" "scorer" {{
          source = "{folder}"
          timeouts {{
            create = "1s"
          }}
        }}
        """,
    )
    tf = terraform_in(root)
    tf.init()
    late = tf.apply(check=False)
    assert late.code != 0
    said = diagnostics(late)
    assert f"{model}:1 is still" in said and "after 1 s (timeouts.create)" in said, late.describe()
    # The platform goes on building it; Terraform holds what it started, and destroy removes it (once
    # built: a version is not deleted while it builds).
    wait_until(
        lambda: api(platform, "GET", f"/models/{model}/versions/1").json()["status"] == "released",
        120,
        f"{model}:1 is built",
    )
    tf.destroy()
    assert api(platform, "GET", f"/models/{model}/versions").json()["versions"] == []
