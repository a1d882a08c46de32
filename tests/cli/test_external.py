"""`hydro external register` and the SDK's `send_samples` against a real control plane (SQLite, process
runtime). No Sonar listens here, so a batch that passes every check is answered 503 naming Sonar; samples
reaching a real Sonar and a drift report are shown in tests/e2e/test_external_story.py."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from hydro.client import HydroClient
from hydro.errors import HydroClientError
from tests.cli.conftest import ADMIN_HEADERS, ADMIN_TOKEN, EXAMPLES, ControlPlane

SIGNATURE = {
    "inputs": [
        {"name": "amount", "datatype": "FP64", "shape": [-1]},
        {"name": "country", "datatype": "BYTES", "shape": [-1], "profile": "categorical"},
    ],
    "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
}


def _model() -> str:
    return f"outside-{uuid.uuid4().hex[:6]}"


def _version(control_plane: ControlPlane, model: str) -> dict[str, Any]:
    response = httpx.get(f"{control_plane.url}/api/v1/models/{model}/versions/1", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    text: str = line
    return text


def test_register_from_a_signature_file_or_a_hydro_yaml(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    model = _model()
    signature = tmp_path / "signature.yaml"
    signature.write_text(yaml.safe_dump(SIGNATURE))
    result = hydro("external", "register", model, "--signature", str(signature))
    assert result.exit_code == 0, result.output
    assert f"registered {model}:1 (external, released)" in result.stdout
    assert f"/api/v1/models/{model}/versions/1/samples" in result.stdout
    version = _version(control_plane, model)
    assert version["external"] is True and version["status"] == "released"
    assert version["signature"]["inputs"][1]["profile"] == "categorical"

    # a hydro.yaml-like file: its signature is what counts; JSON is YAML too
    manifest = tmp_path / "manifest.json"
    manifest.write_text(
        '{"name": "whatever", "signature": {"inputs": [{"name": "x", "datatype": "FP32", "shape": [-1]}], '
        '"outputs": [{"name": "y", "datatype": "FP32", "shape": [-1]}]}}'
    )
    again = hydro("external", "register", model, "--signature", str(manifest))
    assert again.exit_code == 0, again.output
    assert f"registered {model}:2 (external, released)" in again.stdout


def test_register_a_folder_with_its_training_data(
    hydro: Any, control_plane: ControlPlane, tmp_path: Path
) -> None:
    model = _model()
    folder = tmp_path / model
    (folder / "data").mkdir(parents=True)
    shutil.copy(EXAMPLES / "fraud-detector" / "data" / "train.csv", folder / "data" / "train.csv")
    manifest = {"name": model, "external": True, "signature": SIGNATURE, "training_data": "data/train.csv"}
    (folder / "hydro.yaml").write_text(yaml.safe_dump(manifest))
    result = hydro("external", "register", model, "--signature", str(folder))
    assert result.exit_code == 0, result.output
    version = _version(control_plane, model)
    assert (version["external"], version["status"], version["training_data"]) == (
        True,
        "released",
        "data/train.csv",
    )

    assert f"not {'other'!r}" in _error(hydro("external", "register", "other", "--signature", str(folder)))
    del manifest["external"]
    (folder / "hydro.yaml").write_text(yaml.safe_dump(manifest))
    assert "hydro deploy" in _error(hydro("external", "register", model, "--signature", str(folder)))


def test_register_refuses_a_file_without_a_signature(hydro: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("just: words\n")
    assert "must hold a signature" in _error(
        hydro("external", "register", _model(), "--signature", str(empty))
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("inputs: [\n")
    assert "not valid YAML" in _error(hydro("external", "register", _model(), "--signature", str(broken)))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump({"inputs": [{"name": "x", "datatype": "FP99", "shape": [-1]}], "outputs": []})
    )
    assert "FP99" in _error(hydro("external", "register", _model(), "--signature", str(bad)))


def _pair(amount: float, country: str, score: float) -> tuple[dict[str, Any], dict[str, Any]]:
    request = {
        "inputs": [
            {"name": "amount", "datatype": "FP64", "shape": [1], "data": [amount]},
            {"name": "country", "datatype": "BYTES", "shape": [1], "data": [country]},
        ]
    }
    return request, {"outputs": [{"name": "score", "datatype": "FP64", "shape": [1], "data": [score]}]}


def test_send_samples_is_refused_whole_with_the_sample_named_or_with_sonar_named(
    control_plane: ControlPlane,
) -> None:
    with HydroClient(control_plane.url, token=ADMIN_TOKEN) as client:
        model = _model()
        accepted = client.register_external(model, SIGNATURE, metadata={"owner": "risk"})
        assert (accepted.version, accepted.status, accepted.external) == (1, "released", True)
        assert client.version(model, 1).external

        bad = [_pair(1.0, "DE", 0.1), _pair(2.0, "FR", 0.2), ({"inputs": []}, {"outputs": []})]
        with pytest.raises(HydroClientError) as refused:
            client.send_samples(model, 1, bad)
        assert refused.value.status == 400 and "samples[2].request" in str(refused.value)

        with pytest.raises(HydroClientError) as down:
            client.send_samples(model, 1, [_pair(1.0, "DE", 0.1)])
        assert down.value.status == 503 and "Sonar at" in str(down.value)

        with pytest.raises(ValueError, match="batch_size"):
            client.send_samples(model, 1, [], batch_size=0)
        assert client.send_samples(model, 1, []) == 0
