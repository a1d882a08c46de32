"""A mistake in a root module gets a diagnostic that names the attribute at fault, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.terraform.conftest import TerraformIn, copy_example
from tests.terraform.harness import diagnostics

pytestmark = pytest.mark.slow

CANARY_DEPLOYMENT_CONFIG = (
    "      version           = hydro_model_version.canary.version\n"
    "      weight            = 10\n"
    "      deployment_config = hydro_deployment_config.small.name\n"
)


@pytest.mark.parametrize(
    ("mistake", "old", "new", "named"),
    [
        pytest.param(
            "a negative weight",
            "weight            = 10",
            "weight            = -10",
            ["stage[0].variant[1].weight", ">= 0"],
            id="negative-weight",
        ),
        pytest.param(
            "an unknown deployment config",
            CANARY_DEPLOYMENT_CONFIG,
            CANARY_DEPLOYMENT_CONFIG.replace("hydro_deployment_config.small.name", '"no-such-config"'),
            ["stage[0].variant[1].deployment_config", "no-such-config"],
            id="unknown-deployment-config",
        ),
        pytest.param(
            "a missing model folder",
            '"${path.module}/models/canary"',
            '"${path.module}/models/no-such-folder"',
            ["source", "no-such-folder"],
            id="missing-folder",
        ),
    ],
)
def test_a_bad_config_names_the_attribute(
    terraform_in: TerraformIn, tmp_path: Path, mistake: str, old: str, new: str, named: list[str]
) -> None:
    module = copy_example("canary", tmp_path)
    main = module / "main.tf"
    text = main.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in main.tf"
    main.write_text(text.replace(old, new))
    tf = terraform_in(module)
    tf.init()
    run = tf.apply(check=False)
    assert run.code != 0, f"{mistake} was applied:\n{run.describe()}"
    said = diagnostics(run)
    for words in named:
        assert words in said, f"{mistake}: the diagnostic does not name {words!r}:\n{run.describe()}"
    assert "Traceback" not in said and "Exception calling application" not in said, run.describe()
