"""Generate the synthetic card transactions in data/train.csv and fit weights.json with numpy.

Run from this folder: `python train.py`. Deterministic (fixed seed), so re-running reproduces both files.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from fraud_detector import COUNTRIES, features

HERE = Path(__file__).resolve().parent
ROWS = 600
# Per-country shift of the log-odds of fraud in the synthetic data (the model has to learn these).
COUNTRY_RISK = {"DE": -0.8, "US": -0.3, "GB": -0.5, "FR": -0.6, "BR": 0.6, "IN": 0.4, "NG": 1.6, "RU": 1.2}


def synthesize(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    countries = np.array(list(COUNTRY_RISK))
    weights = np.array([0.25, 0.25, 0.12, 0.12, 0.08, 0.08, 0.05, 0.05])
    country = rng.choice(countries, size=ROWS, p=weights)
    amount = np.round(rng.lognormal(mean=4.0, sigma=1.2, size=ROWS), 2)
    logit = -1.5 + 1.6 * (np.log1p(amount) - 4.0) + np.array([COUNTRY_RISK[c] for c in country])
    is_fraud = (rng.random(ROWS) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    return amount, country, is_fraud


def fit(x: np.ndarray, y: np.ndarray, steps: int = 3000, rate: float = 0.5, l2: float = 1e-3) -> np.ndarray:
    """Logistic regression by full-batch gradient descent; the last column of x is the bias."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        w -= rate * (x.T @ (p - y) / len(y) + l2 * w)
    return w


def main() -> None:
    amount, country, is_fraud = synthesize(np.random.default_rng(7))
    (HERE / "data").mkdir(exist_ok=True)
    with open(HERE / "data" / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["amount", "country", "is_fraud"])
        writer.writerows(zip(amount.tolist(), country.tolist(), is_fraud.tolist(), strict=True))

    log_amount = np.log1p(amount)
    scaling = {"amount_mean": float(log_amount.mean()), "amount_std": float(log_amount.std())}
    x = features(amount, country.astype(object), **scaling)
    w = fit(x, is_fraud.astype(np.float64))
    params = {
        **scaling,
        "countries": list(COUNTRIES),
        "coef": [round(float(v), 6) for v in w],
    }
    (HERE / "weights.json").write_text(json.dumps(params, indent=2) + "\n")
    accuracy = float((((x @ w) > 0).astype(np.int64) == is_fraud).mean())
    print(f"fraud rate {is_fraud.mean():.2f}, training accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
