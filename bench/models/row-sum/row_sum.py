"""The benchmark's trivial model: the sum of each row. Cheap on purpose, so a benchmark measures serving."""

from __future__ import annotations

import numpy as np


class RowSum:
    def predict(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"y": inputs["x"].astype(np.float32).sum(axis=1)}
