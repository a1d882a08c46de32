"""A real platform for Terraform to talk to (control plane, scaler and router as processes, on the embedded
default: SQLite, local object store, process runtime), and the real Terraform engine pointed at it."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.platform import Platform, running_platform
from tests.terraform.harness import EXAMPLES, Terraform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from running_platform(tmp_path_factory.mktemp("tf-platform"), HYDRO_RUNTIME="process")


@pytest.fixture(scope="module")
def terraform_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by a module's Terraform runs: the provider wrapper, the CLI config and the pinned HOME (where
    the provider caches its certificate once)."""
    return tmp_path_factory.mktemp("terraform-home")


TerraformIn = Callable[[Path], Terraform]


@pytest.fixture
def terraform_in(platform: Platform, terraform_home: Path) -> TerraformIn:
    """Terraform in a given root module folder, its provider configured the way the README says: from
    HYDRO_CONTROL_PLANE_URL and HYDRO_TOKEN."""

    def make(workdir: Path) -> Terraform:
        provider_env = {
            "HYDRO_CONTROL_PLANE_URL": platform.env["HYDRO_CONTROL_PLANE_URL"],
            "HYDRO_TOKEN": platform.env["HYDRO_TOKEN"],
        }
        return Terraform.prepare(workdir, terraform_home, provider_env)

    return make


def copy_example(name: str, dest: Path) -> Path:
    """A copy of `terraform/examples/NAME` to change at will (never the example itself)."""
    folder = dest / name
    shutil.copytree(
        EXAMPLES / name,
        folder,
        ignore=shutil.ignore_patterns("__pycache__", ".terraform", "*.tfstate*", ".terraform.lock.hcl"),
    )
    return folder
