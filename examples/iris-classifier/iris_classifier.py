"""Iris species from the four flower measurements: a scikit-learn pipeline fitted by train.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import joblib
import numpy as np

FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")


class IrisClassifier:
    def __init__(self) -> None:
        self.pipeline: Any = joblib.load(Path(__file__).parent / "model.joblib")

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = np.column_stack([inputs[name].astype(np.float64) for name in FEATURES])
        probabilities = self.pipeline.predict_proba(x).astype(np.float64)
        return {"class": probabilities.argmax(axis=1).astype(np.int64), "probabilities": probabilities}
