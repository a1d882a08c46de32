"""Traffic of an external version, sent over HTTP: checked, then handed to Sonar as execution records.

An external version (monitored only) is served by someone else, who sends its request and response
pairs here as Open Inference Protocol JSON: `{"samples": [{"request": {...}, "response": {...},
"time"?: "2026-12-03T14:00:00Z"}]}`. Every pair is decoded and checked against the version's signature
before anything is sent, so a batch is refused whole (400 naming the sample and the problem) or handed
to Sonar whole; each pair becomes the `hydro.v1.ExecutionRecord` a router's sampler would have sent
(application "", stage 0, status OK), so the samples land in the same Parquet layout and the same
schedules and drift reports read them.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from control_plane import versions
from control_plane.catalog import Catalog
from control_plane.errors import Conflict, InvalidRequest
from control_plane.sonar_client import SonarClient
from control_plane.validation import parse
from protos.hydro.v1 import sonar_pb2
from wire import oip_grpc
from wire.datatypes import TensorError
from wire.oip_json import decode_json_request
from wire.signature import Signature, SignatureError


class SampleSpec(BaseModel):
    """One request and response pair of an external version, as Open Inference Protocol JSON."""

    model_config = ConfigDict(extra="forbid")

    request: dict[str, Any] = Field(description="The inference request: {id?, inputs: [...]}")
    response: dict[str, Any] = Field(description="The inference response: {outputs: [...]}")
    time: str | None = Field(
        default=None, description="When the request was made (ISO 8601 with a zone); now when left out"
    )


class SamplesSpec(BaseModel):
    """The body of `POST .../samples`: a batch of pairs, taken whole or refused whole."""

    model_config = ConfigDict(extra="forbid")

    samples: list[SampleSpec] = Field(min_length=1)


async def send(
    catalog: Catalog, sonar: SonarClient, model: str, number: int, body: Any, *, max_samples: int
) -> int:
    """Check the samples in `body` against `model:number` (an external version) and hand them to Sonar;
    the number of samples Sonar took."""
    row = await versions.find(catalog, model, number)
    if not versions.is_external(row.manifest):
        raise Conflict(
            f"{row.key} is served by Hydro: its traffic is sampled by the routers; samples are sent only "
            "for external (monitored only) versions"
        )
    samples = parse(SamplesSpec, body, "samples").samples
    if len(samples) > max_samples:
        raise InvalidRequest(
            f"{len(samples)} samples in one request, more than the limit of {max_samples}: "
            "send them in batches"
        )
    signature = Signature.from_dict(row.manifest["signature"])
    now_ms = int(time.time() * 1000)
    records = [_record(model, number, signature, sample, i, now_ms) for i, sample in enumerate(samples)]
    await sonar.ingest(records)
    return len(records)


def _record(
    model: str, number: int, signature: Signature, sample: SampleSpec, index: int, now_ms: int
) -> sonar_pb2.ExecutionRecord:
    where = f"samples[{index}]"
    try:
        inputs, request_id = decode_json_request(sample.request)
    except TensorError as exc:
        raise InvalidRequest(f"{where}.request: {exc}") from None
    if not isinstance(sample.response.get("outputs"), list):
        raise InvalidRequest(f"{where}.response must have a non-empty 'outputs' list")
    try:
        # An output tensor has the form of an input tensor; the decoder's messages call it "input".
        outputs, _ = decode_json_request({"inputs": sample.response["outputs"]})
    except TensorError as exc:
        raise InvalidRequest(f"{where}.response.outputs: {exc}") from None
    try:
        signature.check_inputs(inputs)
        _check_outputs(signature, outputs)
    except SignatureError as exc:
        raise InvalidRequest(f"{where}: {exc}") from None
    _check_batch(signature, inputs, outputs, where)
    return sonar_pb2.ExecutionRecord(
        request_id=request_id or uuid.uuid4().hex,
        model=model,
        version=number,
        time_unix_ms=_time_ms(sample.time, where, now_ms),
        status="OK",
        request=oip_grpc.encode_infer_request(model, inputs, request_id=request_id),
        response=oip_grpc.encode_infer_response(model, outputs, request_id=request_id),
    )


def _check_outputs(signature: Signature, outputs: dict[str, Any]) -> None:
    """Each output given must be the signature's; one left out (not asked for) is a null, as Sonar takes
    a router's record."""
    specs = {spec.name: spec for spec in signature.outputs}
    for name, array in outputs.items():
        spec = specs.get(name)
        if spec is None:
            raise SignatureError(
                f"unexpected output '{name}': the signature's outputs are {', '.join(specs)}"
            )
        spec.check(array, "output")


def _check_batch(signature: Signature, inputs: dict[str, Any], outputs: dict[str, Any], where: str) -> None:
    """Every batched field (shape [-1, ...]) must hold as many items as the others: each item is a row."""
    count: int | None = None
    for kind, specs, arrays in (("input", signature.inputs, inputs), ("output", signature.outputs, outputs)):
        for spec in specs:
            array = arrays.get(spec.name)
            if array is None or not spec.shape or spec.shape[0] != -1:
                continue
            if count is None:
                count = int(array.shape[0])
            elif array.shape[0] != count:
                raise InvalidRequest(
                    f"{where}: {kind} '{spec.name}' has {array.shape[0]} items where the other batched "
                    f"fields have {count}"
                )


def _time_ms(value: str | None, where: str, now_ms: int) -> int:
    """The sample's time (ISO 8601 with a zone) in milliseconds since 1970; now when it has none."""
    if value is None:
        return now_ms
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{where}.time {value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise InvalidRequest(f"{where}.time {value!r} has no time zone: add Z or an offset such as +01:00")
    ms = int(moment.timestamp() * 1000)
    if ms <= 0:
        raise InvalidRequest(f"{where}.time {value!r} is before 1970")
    return ms
