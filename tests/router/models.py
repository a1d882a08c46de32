"""Tiny model folders for the router's tests: model source plus the hydro.json the control plane writes.

Each is served by a real `python -m runtime` process that the scaler stand-in starts on Activate.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

TensorList = list[dict[str, Any]]

X = [{"name": "x", "datatype": "FP64", "shape": [-1]}]
Y = [{"name": "y", "datatype": "FP64", "shape": [-1]}]
Z = [{"name": "z", "datatype": "FP64", "shape": [-1]}]
V = [{"name": "v", "datatype": "INT64", "shape": [-1]}]
SLOW_OUTPUTS = [
    {"name": "y", "datatype": "FP64", "shape": [-1]},
    {"name": "peak", "datatype": "INT64", "shape": [-1]},
    {"name": "pid", "datatype": "INT64", "shape": [-1]},
]

DOUBLE = """
    def predict(inputs):
        return {"y": inputs["x"] * 2}
"""

ADD_ONE = """
    def predict(inputs):
        return {"z": inputs["y"] + 1}
"""

# Answers with its own version number, so a test can count which variant served a request.
WHICH = """
    import numpy as np

    VERSION = {version}

    def predict(inputs):
        return {{"v": np.full(len(inputs["x"]), VERSION, dtype=np.int64)}}
"""

# Takes its time and counts how many requests it works on at once: the replica's own view of the
# concurrency the router sends it (the runtime runs predictions on several threads).
SLOW = """
    import os
    import threading
    import time

    import numpy as np

    _lock = threading.Lock()
    _now = 0
    _peak = 0

    def predict(inputs):
        global _now, _peak
        with _lock:
            _now += 1
            _peak = max(_peak, _now)
        try:
            time.sleep(0.2)
        finally:
            with _lock:
                _now -= 1
                peak = _peak
        n = len(inputs["x"])
        return {
            "y": inputs["x"],
            "peak": np.full(n, peak, dtype=np.int64),
            "pid": np.full(n, os.getpid(), dtype=np.int64),
        }
"""

FAILING = """
    def predict(inputs):
        raise ValueError("boom: this model cannot score anything")
"""


def write_model(
    directory: Path,
    name: str,
    version: int,
    source: str,
    inputs: TensorList,
    outputs: TensorList,
) -> Path:
    """Write `model.py` (entrypoint `model:predict`) and hydro.json into `directory` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.py").write_text(textwrap.dedent(source))
    manifest = {
        "name": name,
        "version": version,
        "runtime": "python3.11",
        "entrypoint": "model:predict",
        "requirements": None,
        "signature": {"inputs": inputs, "outputs": outputs},
        "training_data": None,
        "metadata": {},
    }
    (directory / "hydro.json").write_text(json.dumps(manifest))
    return directory
