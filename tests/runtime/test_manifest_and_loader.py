"""hydro.json and the model's entrypoint are checked up front, with errors that say what to fix."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runtime.errors import LoadError, ManifestError, ModelError
from runtime.loader import load_model
from runtime.manifest import load_manifest
from runtime.settings import parse_args
from tests.runtime.models import DOUBLE_INPUTS, DOUBLE_OUTPUTS, SCORING_CLASS, manifest, write_model

# -- hydro.json -----------------------------------------------------------------------------------


def test_a_folder_without_hydro_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="hydro.json' not found"):
        load_manifest(tmp_path)
    with pytest.raises(ManifestError, match="does not exist or is not a directory"):
        load_manifest(tmp_path / "nowhere")


def test_a_manifest_that_is_not_an_object_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hydro.json").write_text("[1, 2]")
    with pytest.raises(ManifestError, match="expected a JSON object, got list"):
        load_manifest(tmp_path)


# -- loading the entrypoint -----------------------------------------------------------------------


@pytest.fixture
def module_name() -> Iterator[str]:
    """A module name no other test uses; sys.path and sys.modules are restored afterwards."""
    name = f"model_{uuid.uuid4().hex[:10]}"
    path = list(sys.path)
    yield name
    sys.path[:] = path
    for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[loaded]


def load(directory: Path, source: str, module: str, attr: str, **fields: Any) -> Any:
    write_model(directory, source, module=module, entrypoint=f"{module}:{attr}", **fields)
    return load_model(load_manifest(directory), directory)


def test_a_class_is_instantiated_once_and_its_predict_called(tmp_path: Path, module_name: str) -> None:
    model = load(tmp_path, SCORING_CLASS, module_name, "Scorer")
    outputs = model.predict(
        {
            "amount": np.array([2.0]),
            "country": np.array([b"FR"], dtype=object),
            "count": np.array([[1, 2]], dtype=np.int64),
        }
    )
    assert outputs["score"].tolist() == [4.0] and outputs["total"].tolist() == [3]
    assert str(tmp_path.resolve()) == sys.path[0]


def test_a_function_is_called_per_request(tmp_path: Path, module_name: str) -> None:
    source = "def double(inputs):\n    return {'y': inputs['x'] * 2}\n"
    model = load(tmp_path, source, module_name, "double", inputs=DOUBLE_INPUTS, outputs=DOUBLE_OUTPUTS)
    assert model.predict({"x": np.array([1.0])})["y"].tolist() == [2.0]


@pytest.mark.parametrize(
    ("source", "attr", "message"),
    [
        ("X = 1\n", "Model", "has no 'Model'"),
        ("X = 1\n", "X", "X is a int, expected a class or a function"),
        ("class Model:\n    pass\n", "Model", "class Model has no predict(inputs) method"),
        (
            "class Model:\n    def __init__(self):\n        raise OSError('no weights')\n",
            "Model",
            "Model() raised OSError: no weights",
        ),
        ("raise SystemExit(3)\n", "Model", "raised SystemExit: 3"),
        ("import not_installed_anywhere\n", "Model", "No module named 'not_installed_anywhere'"),
        ("def broken(:\n", "Model", "raised SyntaxError"),
    ],
)
def test_entrypoints_that_cannot_load_say_why(
    tmp_path: Path, module_name: str, source: str, attr: str, message: str
) -> None:
    with pytest.raises(LoadError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load(tmp_path, source, module_name, attr)


def test_a_missing_module_names_the_model_folder(tmp_path: Path, module_name: str) -> None:
    (tmp_path / "hydro.json").write_text(json.dumps(manifest(entrypoint="absent_module_xyz:Model")))
    with pytest.raises(LoadError, match="cannot import module 'absent_module_xyz': it is not in"):
        load_model(load_manifest(tmp_path), tmp_path)


def test_a_module_named_like_an_imported_one_is_refused(tmp_path: Path, module_name: str) -> None:
    write_model(tmp_path, "def loads(inputs):\n    return inputs\n", module="json", entrypoint="json:loads")
    with pytest.raises(LoadError, match="'json' clashes with the already imported module"):
        load_model(load_manifest(tmp_path), tmp_path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("raise KeyError('amount')", "the model raised KeyError: 'amount'"),
        ("return None", "the model returned NoneType, expected a dict"),
        ("return {1: inputs['x']}", "the model returned the output name 1, expected a string"),
        ("return {'y': 2.0}", "the model returned output 'y' as float, expected a numpy array"),
    ],
)
def test_a_model_that_misbehaves_raises_model_error(
    tmp_path: Path, module_name: str, body: str, message: str
) -> None:
    model = load(tmp_path, f"def predict(inputs):\n    {body}\n", module_name, "predict")
    with pytest.raises(ModelError, match=message):
        model.predict({"x": np.array([1.0])})


# -- command line ---------------------------------------------------------------------------------


def test_flags_win_over_the_environment_and_the_environment_over_defaults() -> None:
    env = {"HYDRO_MODEL_DIR": "/model", "HYDRO_GRPC_PORT": "9100", "HYDRO_SHUTDOWN_GRACE_S": "2"}
    settings = parse_args([], env)
    assert (str(settings.model_dir), settings.port, settings.host) == ("/model", 9100, "0.0.0.0")
    assert settings.shutdown_grace_s == 2.0
    settings = parse_args(["--model-dir", "/m", "--port", "0", "--host", "127.0.0.1"], env)
    assert (str(settings.model_dir), settings.port, settings.host) == ("/m", 0, "127.0.0.1")
    assert parse_args(["--model-dir", "/m"], {}).port == 9000


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        ([], {}, "--model-dir is required"),
        (["--model-dir", "/m", "--port", "70000"], {}, "port 70000 is not between 0 and 65535"),
        (["--model-dir", "/m"], {"HYDRO_GRPC_PORT": "abc"}, "port 'abc' is not an integer"),
        (["--model-dir", "/m", "--log-level", "loud"], {}, "log level 'LOUD' is not one of"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_args(argv, env)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
