"""Fit model.joblib on the iris data set that scikit-learn ships, and write it to data/train.csv.

Run from this folder with scikit-learn 1.9.1 (the version in requirements.txt): `python train.py`.
"""

from __future__ import annotations

import csv
from pathlib import Path

import joblib
from iris_classifier import FEATURES
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent


def main() -> None:
    iris = load_iris()
    x, y = iris.data, iris.target
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    pipeline.fit(x, y)
    joblib.dump(pipeline, HERE / "model.joblib")

    (HERE / "data").mkdir(exist_ok=True)
    with open(HERE / "data" / "train.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*FEATURES, "species"])
        writer.writerows([*row.tolist(), int(label)] for row, label in zip(x, y, strict=True))
    print(f"training accuracy {pipeline.score(x, y):.3f}")


if __name__ == "__main__":
    main()
