"""The Parquet layout, field kind by field kind: a real Sonar process, fed over its gRPC ingest stream by
this test (as a router would), writes parts whose keys, schema and values follow the contract the drift
worker reads (see `sonar/sample_layout.py`)."""

from __future__ import annotations

import math
import re
import signal
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from protos.hydro.v1 import catalog_pb2, sonar_pb2, sonar_pb2_grpc
from protos.inference import grpc_service_pb2 as pb
from servicekit.grpc_security import ServiceLink
from tests.router.standins import SERVICE_TOKEN, CatalogStandIn, application, snapshot, version
from tests.sonar.harness import local_parts, start_sonar
from wire.oip_grpc import encode_infer_request, encode_infer_response

INPUTS = [
    {"name": "amount", "datatype": "FP64", "shape": [-1]},
    {"name": "country", "datatype": "BYTES", "shape": [-1]},
    {"name": "pixels", "datatype": "UINT8", "shape": [-1, 3]},
    {"name": "half", "datatype": "FP16", "shape": [-1]},
    {"name": "flag", "datatype": "BOOL", "shape": [-1]},
    {"name": "weights", "datatype": "FP32", "shape": [4]},
    {"name": "scale", "datatype": "INT32", "shape": [1]},
]
OUTPUTS = [
    {"name": "score", "datatype": "FP64", "shape": [-1]},
    {"name": "amount", "datatype": "FP64", "shape": [-1]},
]

EXPECTED_SCHEMA = pa.schema(
    [
        ("hydro_time", pa.timestamp("ms", tz="UTC")),
        ("hydro_request_id", pa.string()),
        ("hydro_application", pa.string()),
        ("hydro_stage", pa.int32()),
        ("hydro_latency_ms", pa.float64()),
        ("hydro_status", pa.string()),
        ("hydro_shadow", pa.bool_()),
        ("amount", pa.float64()),
        ("country", pa.string()),
        ("pixels", pa.list_(pa.uint8())),
        ("half", pa.float32()),
        ("flag", pa.bool_()),
        ("weights", pa.list_(pa.float32())),
        ("scale", pa.int32()),
        ("score", pa.float64()),
        ("output.amount", pa.float64()),
    ]
)

KEY = re.compile(
    r"^samples/(?P<model>[a-z0-9-]+)/(?P<version>\d+)/date=(?P<date>\d{4}-\d\d-\d\d)/hour=(?P<hour>\d\d)/"
    r"part-(?P<first>\d+)-[0-9a-f]{8}\.parquet$"
)

# 2026-01-01 23:59:59.500 UTC and half a second later: two hours, two dates.
LATE = int(datetime(2026, 1, 1, 23, 59, 59, 500_000, tzinfo=UTC).timestamp() * 1000)
EARLY_NEXT_DAY = LATE + 600


def catalog_snapshot() -> catalog_pb2.Snapshot:
    return snapshot(1, [application("scoring", [("scorer:1", 100)])], [version("scorer", 1, INPUTS, OUTPUTS)])


def inputs(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "amount": rng.normal(size=n),
        "country": np.array([b"fr", b"\xffbad"] * n, dtype=object)[:n],
        "pixels": rng.integers(0, 255, size=(n, 3), dtype=np.uint8),
        "half": rng.normal(size=n).astype(np.float16),
        "flag": np.arange(n) % 2 == 0,
        "weights": np.array([0.5, 1.5, 2.5, 3.5], dtype=np.float32),
        "scale": np.array([7], dtype=np.int32),
    }


def record(
    request_id: str,
    time_ms: int,
    arrays: dict[str, np.ndarray],
    outputs: dict[str, np.ndarray] | None,
    *,
    status: str = "OK",
    typed: list[dict[str, Any]] | None = None,
) -> sonar_pb2.ExecutionRecord:
    """A record as a router sends it; with `typed` (the input specs), inputs in typed contents."""
    if typed is None:
        request = encode_infer_request("scorer", arrays, request_id=request_id)
    else:
        request = typed_request(typed, arrays, request_id)
    message = sonar_pb2.ExecutionRecord(
        request_id=request_id,
        application="scoring",
        stage=0,
        model="scorer",
        version=1,
        time_unix_ms=time_ms,
        latency_ms=1.25,
        status=status,
        error="" if status == "OK" else "boom",
        request=request,
    )
    if outputs is not None:
        message.response.CopyFrom(encode_infer_response("scorer", outputs, request_id=request_id))
    return message


def typed_request(
    specs: list[dict[str, Any]], arrays: dict[str, np.ndarray], request_id: str
) -> pb.ModelInferRequest:
    """The typed-contents form a caller may send instead of raw contents (FP16 has none)."""
    request = pb.ModelInferRequest(model_name="scorer", id=request_id)
    fields = {
        "FP64": "fp64_contents",
        "FP32": "fp32_contents",
        "BOOL": "bool_contents",
        "INT32": "int_contents",
    }
    for spec in specs:
        array = arrays[spec["name"]]
        tensor = request.inputs.add(name=spec["name"], datatype=spec["datatype"], shape=array.shape)
        if spec["datatype"] == "BYTES":
            tensor.contents.bytes_contents.extend(array.reshape(-1).tolist())
        elif spec["datatype"] == "UINT8":
            tensor.contents.uint_contents.extend(int(v) for v in array.reshape(-1))
        else:
            getattr(tensor.contents, fields[spec["datatype"]]).extend(array.reshape(-1).tolist())
    return request


async def ingest(
    address: str, batches: Iterable[list[sonar_pb2.ExecutionRecord]]
) -> list[sonar_pb2.IngestAck]:
    """Send `batches` on one Ingest stream; the acks, one per batch."""
    async with ServiceLink(SERVICE_TOKEN).channel(address) as channel:
        stub = sonar_pb2_grpc.SonarStub(channel)  # type: ignore[no-untyped-call]
        call = stub.Ingest()
        acks = []
        for seq, records in enumerate(batches, start=1):
            await call.write(sonar_pb2.RecordBatch(seq=seq, records=records))
            acks.append(await call.read())
        await call.done_writing()
        return acks


@pytest.fixture
async def catalog() -> AsyncIterator[CatalogStandIn]:
    standin = CatalogStandIn(catalog_snapshot())
    await standin.start()
    yield standin
    await standin.stop()


async def test_each_field_kind_gets_its_column_and_each_hour_its_part(
    tmp_path: Path, catalog: CatalogStandIn
) -> None:
    store = tmp_path / "objects"
    sonar = await start_sonar(
        tmp_path, catalog_address=catalog.address, object_store_url=store.as_uri(), sonar_flush_age_s=3600
    )
    late = inputs(2, seed=1)
    next_day = inputs(3, seed=2)
    failed_inputs = inputs(1, seed=3)
    answer = {"score": late["amount"] * 10, "amount": late["amount"] + 1}
    acks = await ingest(
        sonar.address,
        [
            [
                record("late", LATE, late, answer),
                # asked for `score` only: the answer leaves `amount` out, so output.amount is null there
                record("next-day", EARLY_NEXT_DAY, next_day, {"score": next_day["amount"] * 10}),
            ],
            [record("failed", EARLY_NEXT_DAY + 5, failed_inputs, None, status="INTERNAL")],
        ],
    )
    assert [(a.seq, a.accepted, a.rejected) for a in acks] == [(1, 2, 0), (2, 1, 0)]
    assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()

    parts = local_parts(store)
    assert len(parts) == 2, parts.keys()
    by_hour = {}
    for key, table in parts.items():
        match = KEY.match(key)
        assert match, f"{key} does not follow samples/{{model}}/{{version}}/date=/hour=/part-*.parquet"
        assert (match["model"], match["version"]) == ("scorer", "1")
        assert table.schema.equals(EXPECTED_SCHEMA), f"{key}:\n{table.schema}"
        times = table.column("hydro_time").to_pylist()
        assert all(t.strftime("%Y-%m-%d/%H") == f"{match['date']}/{match['hour']}" for t in times)
        first = min(int(t.timestamp() * 1000) for t in times)
        assert int(match["first"]) == first
        by_hour[f"{match['date']}/{match['hour']}"] = table.to_pylist()

    assert set(by_hour) == {"2026-01-01/23", "2026-01-02/00"}
    rows = by_hour["2026-01-01/23"]
    assert len(rows) == 2  # a batch of 2 items
    for i, row in enumerate(rows):
        assert row["hydro_request_id"] == "late"
        assert row["hydro_application"] == "scoring"
        assert row["hydro_stage"] == 0 and row["hydro_shadow"] is False
        assert row["hydro_status"] == "OK" and row["hydro_latency_ms"] == 1.25
        assert int(row["hydro_time"].timestamp() * 1000) == LATE
        assert row["amount"] == late["amount"][i]
        assert row["pixels"] == late["pixels"][i].tolist()
        assert row["half"] == float(late["half"][i])
        assert row["flag"] == bool(late["flag"][i])
        assert row["weights"] == [0.5, 1.5, 2.5, 3.5]  # no batch axis: the same list on every row
        assert row["scale"] == 7  # shape [1]: a plain column
        assert row["score"] == answer["score"][i]
        assert row["output.amount"] == answer["amount"][i]
    assert [row["country"] for row in rows] == ["fr", "\ufffdbad"]

    rows = by_hour["2026-01-02/00"]
    assert [row["hydro_request_id"] for row in rows] == ["next-day"] * 3 + ["failed"]
    assert [row["output.amount"] for row in rows] == [None] * 4
    assert [row["score"] is None for row in rows] == [False, False, False, True]
    failed = rows[-1]
    assert failed["hydro_status"] == "INTERNAL"
    assert failed["amount"] == failed_inputs["amount"][0]
    assert not math.isnan(failed["hydro_latency_ms"])


async def test_typed_contents_are_decoded_like_raw_contents(tmp_path: Path) -> None:
    signature = [spec for spec in INPUTS if spec["datatype"] != "FP16"]
    standin = CatalogStandIn(
        snapshot(
            1, [application("scoring", [("scorer:1", 100)])], [version("scorer", 1, signature, OUTPUTS[:1])]
        )
    )
    await standin.start()
    try:
        store = tmp_path / "objects"
        sonar = await start_sonar(tmp_path, catalog_address=standin.address, object_store_url=store.as_uri())
        arrays = {k: v for k, v in inputs(2, seed=4).items() if k != "half"}
        typed = record("typed", LATE, arrays, {"score": arrays["amount"]}, typed=signature)
        raw = record("raw", LATE, arrays, {"score": arrays["amount"]})
        acks = await ingest(sonar.address, [[typed, raw]])
        assert (acks[0].accepted, acks[0].rejected) == (2, 0)
        assert await sonar.stop() == 0, sonar.log_text()
    finally:
        await standin.stop()
    (table,) = local_parts(tmp_path / "objects").values()
    rows = table.to_pylist()
    typed_rows = [
        {k: v for k, v in r.items() if k != "hydro_request_id"}
        for r in rows
        if r["hydro_request_id"] == "typed"
    ]
    raw_rows = [
        {k: v for k, v in r.items() if k != "hydro_request_id"}
        for r in rows
        if r["hydro_request_id"] == "raw"
    ]
    assert typed_rows == raw_rows and len(typed_rows) == 2


async def test_records_that_do_not_fit_the_signature_are_rejected_and_counted(
    tmp_path: Path, catalog: CatalogStandIn
) -> None:
    sonar = await start_sonar(
        tmp_path,
        catalog_address=catalog.address,
        object_store_url=(tmp_path / "objects").as_uri(),
        sonar_unknown_version_wait_s=0.2,
    )
    good = inputs(2, seed=5)
    wrong_dtype = {**good, "amount": good["amount"].astype(np.float32)}
    ragged = {**good, "flag": np.array([True, False, True])}  # 3 items where the others have 2
    unknown = record("unknown", LATE, good, None)
    unknown.model = "nobody"
    acks = await ingest(
        sonar.address,
        [
            [
                record("ok", LATE, good, None, status="UNAVAILABLE"),
                record("dtype", LATE, wrong_dtype, None),
                record("ragged", LATE, ragged, None),
                unknown,
            ]
        ],
    )
    assert (acks[0].accepted, acks[0].rejected) == (1, 3)
    metrics = await sonar.metrics()
    assert metrics['hydro_sonar_records_rejected_total{reason="signature"}'] == 2
    assert metrics['hydro_sonar_records_rejected_total{reason="unknown_version"}'] == 1
    assert await sonar.stop() == 0
    log = sonar.log_text()
    assert "input 'amount': expected datatype FP64, got FP32" in log
    assert "nobody:1" in log
    (table,) = local_parts(tmp_path / "objects").values()
    assert table.column("hydro_request_id").to_pylist() == ["ok", "ok"]
