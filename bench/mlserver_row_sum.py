"""MLServer custom runtime for bench/router.py: the RowSum class Hydro serves, behind MLServer's V2 API.

Imported only by MLServer, inside the benchmark's own virtualenv (.cache/bench-mlserver-venv).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mlserver import MLModel  # type: ignore[import-not-found]
from mlserver.codecs import NumpyCodec  # type: ignore[import-not-found]
from mlserver.types import InferenceRequest, InferenceResponse  # type: ignore[import-not-found]

sys.path.insert(0, str(Path(__file__).resolve().parent / "models" / "row-sum"))
from row_sum import RowSum  # noqa: E402


class RowSumRuntime(MLModel):  # type: ignore[misc]
    async def load(self) -> bool:
        self._model = RowSum()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        y = self._model.predict({"x": x})["y"]
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("y", y)])
