"""Records of a layout already seen are only viewed, not decoded again: the rows and the table must be the
ones a full decode gives, and a record that does not fit must still be refused with its reason."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from protos.hydro.v1 import sonar_pb2
from sonar.errors import InvalidRequest
from sonar.rows import SampleSchema
from sonar.sample_layout import RecordRows
from wire.oip_grpc import encode_infer_request, encode_infer_response
from wire.signature import Signature

SIGNATURE = Signature.from_dict(
    {
        "inputs": [
            {"name": "amount", "datatype": "FP64", "shape": [-1]},
            {"name": "pixels", "datatype": "UINT8", "shape": [-1, 3]},
            {"name": "half", "datatype": "FP16", "shape": [-1]},
            {"name": "weights", "datatype": "FP32", "shape": [4]},
        ],
        "outputs": [
            {"name": "score", "datatype": "FP64", "shape": [-1]},
            {"name": "amount", "datatype": "FP64", "shape": [-1]},
        ],
    }
)


def record(
    request_id: str, n: int, seed: int, *, status: str = "OK", outputs: tuple[str, ...] = ("score", "amount")
) -> sonar_pb2.ExecutionRecord:
    rng = np.random.default_rng(seed)
    arrays = {
        "amount": rng.normal(size=n),
        "pixels": rng.integers(0, 255, size=(n, 3), dtype=np.uint8),
        "half": rng.normal(size=n).astype(np.float16),
        "weights": rng.normal(size=4).astype(np.float32),
    }
    answers = {"score": rng.normal(size=n), "amount": rng.normal(size=n)}
    message = sonar_pb2.ExecutionRecord(
        request_id=request_id,
        application="scoring",
        model="scorer",
        version=1,
        time_unix_ms=1_767_225_600_000 + seed,
        latency_ms=0.5 + seed,
        status=status,
        request=encode_infer_request("scorer", arrays),
    )
    message.response.CopyFrom(encode_infer_response("scorer", {name: answers[name] for name in outputs}))
    return message


def same_rows(got: RecordRows, want: RecordRows) -> None:
    assert (got.count, got.time_unix_ms, got.request_id, got.status, got.nbytes) == (
        want.count,
        want.time_unix_ms,
        want.request_id,
        want.status,
        want.nbytes,
    )
    assert len(got.values) == len(want.values)
    for mine, theirs in zip(got.values, want.values, strict=True):
        if theirs is None:
            assert mine is None
        else:
            assert mine is not None and mine.dtype == theirs.dtype and mine.shape == theirs.shape
            np.testing.assert_array_equal(mine, theirs)


def test_records_of_a_known_layout_give_the_rows_of_a_full_decode() -> None:
    schema = SampleSchema("scorer", 1, SIGNATURE)
    records = [
        record("a", 3, seed=1),
        record("b", 3, seed=2),  # the layout of "a"
        record("c", 5, seed=3),  # another batch size: another layout
        record("d", 5, seed=4),
        record("e", 3, seed=5, status="UNAVAILABLE"),  # a failed call: outputs null
        record("f", 3, seed=6, status="UNAVAILABLE"),
        record("g", 3, seed=7, outputs=("score",)),  # an output left out: null
        record("h", 3, seed=8, outputs=("score",)),
    ]
    rows = [schema.rows(r) for r in records]
    fresh = [SampleSchema("scorer", 1, SIGNATURE).rows(r) for r in records]  # each one decoded in full
    for got, want in zip(rows, fresh, strict=True):
        same_rows(got, want)
    assert rows[5].values[4] is None and rows[5].values[5] is None
    assert rows[7].values[4] is not None and rows[7].values[5] is None
    assert schema.build_table(rows).equals(SampleSchema("scorer", 1, SIGNATURE).build_table(fresh))
    table = schema.build_table(rows)
    assert table.num_rows == 3 + 3 + 5 + 5 + 3 + 3 + 3 + 3
    assert table.column("half").type == pa.float32()


def test_a_record_that_does_not_fit_a_known_layout_is_still_refused() -> None:
    schema = SampleSchema("scorer", 1, SIGNATURE)
    schema.rows(record("a", 3, seed=1))
    short = record("short", 3, seed=2)
    short.request.raw_input_contents[0] = short.request.raw_input_contents[0][:-8]  # 2 values of 3
    with pytest.raises(InvalidRequest, match="tensor 'amount': raw data has 16 bytes"):
        schema.rows(short)
    ragged = record("ragged", 3, seed=3)
    ragged.response.outputs[0].shape[:] = [1]
    ragged.response.raw_output_contents[0] = ragged.response.raw_output_contents[0][:8]
    with pytest.raises(InvalidRequest, match="has 1 items where the other batched fields have 3"):
        schema.rows(ragged)
    with pytest.raises(InvalidRequest, match="has 1 items where the other batched fields have 3"):
        schema.rows(ragged)  # a layout refused once is refused again
    schema.rows(record("b", 3, seed=4))
