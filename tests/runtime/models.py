"""Tiny model folders written by the tests: model source plus the hydro.json the control plane would add."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

TensorList = list[dict[str, Any]]

SCORING_INPUTS: TensorList = [
    {"name": "amount", "datatype": "FP64", "shape": [-1]},
    {"name": "country", "datatype": "BYTES", "shape": [-1], "profile": "categorical"},
    {"name": "count", "datatype": "INT64", "shape": [-1, 2]},
]
SCORING_OUTPUTS: TensorList = [
    {"name": "score", "datatype": "FP64", "shape": [-1]},
    {"name": "label", "datatype": "BYTES", "shape": [-1]},
    {"name": "total", "datatype": "INT64", "shape": [-1]},
]

# A class model: rates are "loaded" once in __init__; predict is called per request.
SCORING_CLASS = """
    import numpy as np

    class Scorer:
        def __init__(self):
            self.rates = {b"DE": 0.5, b"FR": 2.0}

        def predict(self, inputs):
            rates = np.array([self.rates.get(c, 1.0) for c in inputs["country"]])
            return {
                "score": inputs["amount"] * rates,
                "label": np.array([c + b"!" for c in inputs["country"]], dtype=object),
                "total": inputs["count"].sum(axis=1),
            }
"""

DOUBLE_INPUTS: TensorList = [{"name": "x", "datatype": "FP64", "shape": [-1]}]
DOUBLE_OUTPUTS: TensorList = [{"name": "y", "datatype": "FP64", "shape": [-1]}]

DOUBLE_FUNCTION = """
    def double(inputs):
        return {"y": inputs["x"] * 2}
"""


def manifest(
    name: str = "scoring",
    entrypoint: str = "model:Scorer",
    inputs: TensorList | None = None,
    outputs: TensorList | None = None,
    version: int = 1,
) -> dict[str, Any]:
    """The normalized hydro.json of a package, as the control plane writes it."""
    return {
        "name": name,
        "version": version,
        "runtime": "python3.11",
        "entrypoint": entrypoint,
        "requirements": None,
        "signature": {
            "inputs": SCORING_INPUTS if inputs is None else inputs,
            "outputs": SCORING_OUTPUTS if outputs is None else outputs,
        },
        "training_data": None,
        "metadata": {"team": "tests"},
    }


def write_model(directory: Path, source: str, module: str = "model", **manifest_fields: Any) -> Path:
    """Write `module.py` and hydro.json into `directory` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{module}.py").write_text(textwrap.dedent(source))
    (directory / "hydro.json").write_text(json.dumps(manifest(**manifest_fields)))
    return directory
