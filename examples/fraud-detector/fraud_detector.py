"""A fraud scorer: logistic regression over log(amount) and the card's country, weights fitted by train.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

# Countries with their own weight; any other country shares the "other" weight.
COUNTRIES = ("DE", "US", "GB", "FR", "BR", "IN", "NG", "RU")


def _country_codes(country: np.ndarray) -> list[str]:
    return [(c.decode("utf-8") if isinstance(c, bytes) else str(c)).strip().upper() for c in country]


def features(amount: np.ndarray, country: np.ndarray, amount_mean: float, amount_std: float) -> np.ndarray:
    """Design matrix: standardized log1p(amount), one-hot country (known ones, then other), bias."""
    scaled = (np.log1p(np.clip(amount.astype(np.float64), 0.0, None)) - amount_mean) / amount_std
    codes = _country_codes(country)
    index = {c: i for i, c in enumerate(COUNTRIES)}
    one_hot = np.zeros((len(codes), len(COUNTRIES) + 1))
    one_hot[np.arange(len(codes)), [index.get(c, len(COUNTRIES)) for c in codes]] = 1.0
    return np.column_stack([scaled, one_hot, np.ones(len(codes))])


class FraudDetector:
    def __init__(self) -> None:
        params: dict[str, Any] = json.loads((Path(__file__).parent / "weights.json").read_text())
        self.amount_mean = float(params["amount_mean"])
        self.amount_std = float(params["amount_std"])
        self.coef = np.asarray(params["coef"], dtype=np.float64)

    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = features(inputs["amount"], inputs["country"], self.amount_mean, self.amount_std)
        score = 1.0 / (1.0 + np.exp(-(x @ self.coef)))
        return {"score": score.astype(np.float64)}
