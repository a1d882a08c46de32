"""A `tritonclient.grpc` caller in a process of its own: `python -m tests.e2e.triton_grpc ADDRESS [CA_FILE]`
(with CA_FILE: over TLS, trusting that CA; an empty CA_FILE: over TLS, trusting the system's roots).

tritonclient.grpc registers its own copy of `inference/grpc_service.proto`, which cannot share a
process with Hydro's (duplicate symbols in protobuf's descriptor pool), so the e2e tests run it here,
as a real caller's process would. The steps come as JSON on stdin, each `{"call": name, "args": [...]}`;
an `infer` step also has `inputs` (`{name: [datatype, shape, values]}`), optional `shapes` (a shape to
declare instead of the data's), `outputs` (names to request) and `kwargs`. One JSON result per step is
printed: the call's answer, or `{"error": {"status": ..., "message": ...}}`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException, triton_to_np_dtype


def _infer(client: grpcclient.InferenceServerClient, step: dict[str, Any]) -> dict[str, Any]:
    inputs = []
    for name, (datatype, shape, values) in step["inputs"].items():
        tensor = grpcclient.InferInput(name, shape, datatype)
        tensor.set_data_from_numpy(np.array(values, dtype=triton_to_np_dtype(datatype)).reshape(shape))
        tensor.set_shape(step.get("shapes", {}).get(name, shape))
        inputs.append(tensor)
    outputs = [grpcclient.InferRequestedOutput(n) for n in step.get("outputs", [])] or None
    result = client.infer(*step["args"], inputs, outputs=outputs, **step.get("kwargs", {}))
    response = result.get_response()
    return {
        "model_name": response.model_name,
        "outputs": {o.name: result.as_numpy(o.name).tolist() for o in response.outputs},
        "datatypes": {o.name: o.datatype for o in response.outputs},
    }


def run(address: str, steps: list[dict[str, Any]], ca_file: str | None = None) -> list[Any]:
    if ca_file is None:
        client = grpcclient.InferenceServerClient(address)
    else:
        client = grpcclient.InferenceServerClient(address, ssl=True, root_certificates=ca_file or None)
    results: list[Any] = []
    try:
        for step in steps:
            call, args = step["call"], step.get("args", [])
            try:
                if call == "infer":
                    results.append(_infer(client, step))
                elif call in ("get_server_metadata", "get_model_metadata"):
                    results.append(getattr(client, call)(*args, as_json=True))
                else:
                    results.append(getattr(client, call)(*args))
            except InferenceServerException as exc:
                results.append({"error": {"status": exc.status(), "message": exc.message()}})
    finally:
        client.close()
    return results


if __name__ == "__main__":
    print(json.dumps(run(sys.argv[1], json.load(sys.stdin), sys.argv[2] if len(sys.argv) > 2 else None)))
