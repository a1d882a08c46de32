"""The example models load from their folder, answer their signature, and fit their training data."""

from __future__ import annotations

import csv
import importlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from wire import plain_form
from wire.signature import Signature

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def manifest(example: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((EXAMPLES / example / "hydro.yaml").read_text())
    return data


def training_rows(example: str) -> list[dict[str, str]]:
    path = EXAMPLES / example / manifest(example)["training_data"]
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def load() -> Iterator[Any]:
    """Load an example's entrypoint as the runtime does: its folder first on sys.path, class made once."""
    added: list[tuple[str, str]] = []

    def load(example: str) -> Any:
        folder = str(EXAMPLES / example)
        module_name, attr = manifest(example)["entrypoint"].split(":")
        sys.path.insert(0, folder)
        added.append((folder, module_name))
        target = getattr(importlib.import_module(module_name), attr)
        return target() if isinstance(target, type) else target

    yield load
    for folder, module_name in added:
        sys.path.remove(folder)
        sys.modules.pop(module_name, None)


def batch(example: str, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The rows' input columns decoded the way the router decodes a plain request."""
    signature = Signature.from_dict(manifest(example)["signature"])
    body: dict[str, Any] = {}
    for spec in signature.inputs:
        values = [row[spec.name] for row in rows]
        body[spec.name] = values if spec.datatype == "BYTES" else [float(v) for v in values]
    return plain_form.decode_plain_request(body, signature)


@pytest.mark.parametrize("example", ["fraud-detector", "iris-classifier"])
def test_each_example_is_a_complete_model_folder(example: str) -> None:
    folder = EXAMPLES / example
    data = manifest(example)
    assert data["name"] == example
    Signature.from_dict(data["signature"])
    for name in ("README.md", "train.py", data["training_data"], data["entrypoint"].split(":")[0] + ".py"):
        assert (folder / name).is_file(), name
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 64 * 1024


def test_the_fraud_detector_scores_a_batch_as_its_signature_says(load: Any) -> None:
    model = load("fraud-detector")
    inputs = batch(
        "fraud-detector", [{"amount": "12.5", "country": "DE"}, {"amount": "3100", "country": "NG"}]
    )
    outputs = model.predict(inputs)
    Signature.from_dict(manifest("fraud-detector")["signature"]).check_outputs(outputs)
    low, high = outputs["score"]
    assert 0 < low < 0.1 < 0.9 < high < 1


def test_the_fraud_detector_accepts_unknown_countries_and_str_values(load: Any) -> None:
    model = load("fraud-detector")
    outputs = model.predict(
        {"amount": np.array([100.0, 100.0]), "country": np.array([b"ZZ", "de "], dtype=object)}
    )
    assert outputs["score"].shape == (2,) and np.all((outputs["score"] > 0) & (outputs["score"] < 1))


def test_the_fraud_detector_separates_fraud_on_its_training_data(load: Any) -> None:
    rows = training_rows("fraud-detector")
    labels = np.array([int(row["is_fraud"]) for row in rows])
    score = load("fraud-detector").predict(batch("fraud-detector", rows))["score"]
    accuracy = float(((score > 0.5) == labels).mean())
    majority = max(labels.mean(), 1 - labels.mean())
    ranks = score.argsort().argsort() + 1  # Mann-Whitney AUC
    positives = labels == 1
    auc = (ranks[positives].sum() - positives.sum() * (positives.sum() + 1) / 2) / (
        positives.sum() * (~positives).sum()
    )
    assert accuracy > majority + 0.05, (accuracy, majority)
    assert auc > 0.85, auc


def test_the_fraud_detector_training_script_reproduces_its_weights(tmp_path: Path) -> None:
    folder = tmp_path / "fraud-detector"
    shutil.copytree(EXAMPLES / "fraud-detector", folder, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "train.py"], cwd=folder, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert (folder / "data" / "train.csv").read_text() == (
        EXAMPLES / "fraud-detector/data/train.csv"
    ).read_text()
    fitted = json.loads((folder / "weights.json").read_text())
    committed = json.loads((EXAMPLES / "fraud-detector" / "weights.json").read_text())
    np.testing.assert_allclose(fitted["coef"], committed["coef"], atol=1e-5)


def test_the_iris_classifier_answers_classes_and_probabilities(load: Any) -> None:
    model = load("iris-classifier")
    rows = [
        {"sepal_length": "5.1", "sepal_width": "3.5", "petal_length": "1.4", "petal_width": "0.2"},
        {"sepal_length": "6.0", "sepal_width": "2.7", "petal_length": "4.2", "petal_width": "1.3"},
        {"sepal_length": "6.7", "sepal_width": "3.0", "petal_length": "5.2", "petal_width": "2.3"},
    ]
    outputs = model.predict(batch("iris-classifier", rows))
    Signature.from_dict(manifest("iris-classifier")["signature"]).check_outputs(outputs)
    assert outputs["class"].tolist() == [0, 1, 2]
    np.testing.assert_allclose(outputs["probabilities"].sum(axis=1), 1.0)


def test_the_iris_classifier_fits_its_training_data(load: Any) -> None:
    rows = training_rows("iris-classifier")
    labels = np.array([int(row["species"]) for row in rows])
    predicted = load("iris-classifier").predict(batch("iris-classifier", rows))["class"]
    assert float((predicted == labels).mean()) > 0.95


def test_the_iris_classifier_pins_the_scikit_learn_it_was_pickled_with() -> None:
    pinned = (EXAMPLES / "iris-classifier" / "requirements.txt").read_text().split()
    assert pinned == [f"scikit-learn=={version('scikit-learn')}"]
