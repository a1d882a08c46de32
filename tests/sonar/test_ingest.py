"""Live traffic into Parquet: a real router (with real runtime processes behind it) samples its invokes to a
real Sonar process, which writes them to the local store or to an S3 server (moto) through aiobotocore.

The router runs in the test's loop between the catalog and scaler stand-ins of `tests/router`; Sonar
follows the same catalog stand-in for the versions' signatures.
"""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pyarrow as pa
import pytest

from protos.hydro.v1 import catalog_pb2
from tests.router import models
from tests.router.harness import RouterUnderTest, StartRouter, wait_until
from tests.router.standins import application, config, snapshot, version
from tests.sonar.conftest import S3Server
from tests.sonar.harness import SonarProcess, local_parts, parse_metrics, s3_parts, start_sonar

KEY = re.compile(
    r"^(?:hydro/)?samples/(?P<model>[a-z0-9-]+)/(?P<version>\d+)/date=(?P<date>\d{4}-\d\d-\d\d)/"
    r"hour=(?P<hour>\d\d)/part-(?P<first>\d+)-[0-9a-f]{8}\.parquet$"
)
META = [
    ("hydro_time", pa.timestamp("ms", tz="UTC")),
    ("hydro_request_id", pa.string()),
    ("hydro_application", pa.string()),
    ("hydro_stage", pa.int32()),
    ("hydro_latency_ms", pa.float64()),
    ("hydro_status", pa.string()),
    ("hydro_shadow", pa.bool_()),
]


def sampled_snapshot() -> catalog_pb2.Snapshot:
    """A single model, a two-stage pipeline, a model with a shadow variant and a model that fails."""
    return snapshot(
        1,
        [
            application("double", [("double:1", 100)]),
            application("pipeline", [("double:1", 100)], [("add-one:1", 100)]),
            application("shadowed", [("double:1", 100), ("which:1", 0)]),
            application("failing", [("failing:1", 100)]),
        ],
        [
            version("double", 1, models.X, models.Y),
            version("add-one", 1, models.Y, models.Z),
            version("which", 1, models.X, models.V),
            version("failing", 1, models.X, models.Y),
        ],
        [config("default")],
    )


async def router_metric(router: RouterUnderTest, name: str) -> float:
    return parse_metrics(await router.metrics()).get(name, 0.0)


async def acked(router: RouterUnderTest) -> float:
    return await router_metric(router, 'hydro_router_sonar_records_total{outcome="acked"}')


async def invoke_everything(router: RouterUnderTest) -> dict[str, list[float]]:
    """The same traffic for every storage test; the inputs sent, by request id."""
    sent: dict[str, list[float]] = {}

    async def call(app: str, request_id: str, x: list[float], status: int = 200) -> None:
        response = await router.http.post(f"/apps/{app}", json={"x": x}, headers={"X-Request-Id": request_id})
        assert response.status_code == status, response.text
        sent[request_id] = x

    for i in range(5):
        await call("double", f"double-{i}", [float(i), i + 0.5, i + 0.25])
    for i in range(3):
        await call("pipeline", f"pipeline-{i}", [10.0 * i, 10.0 * i + 1])
    for i in range(2):
        await call("shadowed", f"shadowed-{i}", [1.0, 2.0, 3.0, float(i)])
    await call("failing", "failing-0", [4.0], status=502)
    return sent


# Records: double 5, pipeline 3 x 2 stages, shadowed 2 x (variant + shadow), failing 1.
RECORDS = 5 + 6 + 4 + 1


def check_parts(parts: dict[str, pa.Table], sent: dict[str, list[float]]) -> None:
    """The parts hold exactly the rows of the traffic `invoke_everything` made, laid out as promised."""
    by_version: dict[str, list[dict[str, object]]] = {}
    for key, table in parts.items():
        match = KEY.match(key)
        assert match, f"{key} does not follow samples/{{model}}/{{version}}/date=/hour=/part-*.parquet"
        times = table.column("hydro_time").to_pylist()
        assert all(t.strftime("%Y-%m-%d %H") == f"{match['date']} {match['hour']}" for t in times), key
        assert int(match["first"]) == min(int(t.timestamp() * 1000) for t in times)
        by_version.setdefault(f"{match['model']}:{match['version']}", []).extend(table.to_pylist())
        model_fields = {
            "double": [("x", pa.float64()), ("y", pa.float64())],
            "add-one": [("y", pa.float64()), ("z", pa.float64())],
            "which": [("x", pa.float64()), ("v", pa.int64())],
            "failing": [("x", pa.float64()), ("y", pa.float64())],
        }[match["model"]]
        assert table.schema.equals(pa.schema(META + model_fields)), f"{key}:\n{table.schema}"

    assert set(by_version) == {"double:1", "add-one:1", "which:1", "failing:1"}
    double = by_version["double:1"]
    assert len(double) == 5 * 3 + 3 * 2 + 2 * 4
    for request_id in [f"double-{i}" for i in range(5)] + [f"pipeline-{i}" for i in range(3)]:
        rows = [r for r in double if r["hydro_request_id"] == request_id]
        assert [r["x"] for r in rows] == sent[request_id]
        assert [r["y"] for r in rows] == [2 * x for x in sent[request_id]]
        assert {(r["hydro_stage"], r["hydro_status"], r["hydro_shadow"]) for r in rows} == {(0, "OK", False)}
        assert {r["hydro_application"] for r in rows} == {request_id.split("-")[0]}
        assert all(r["hydro_latency_ms"] > 0 for r in rows)

    add_one = by_version["add-one:1"]
    assert len(add_one) == 3 * 2
    for i in range(3):
        rows = [r for r in add_one if r["hydro_request_id"] == f"pipeline-{i}"]
        assert [r["y"] for r in rows] == [2 * x for x in sent[f"pipeline-{i}"]]
        assert [r["z"] for r in rows] == [2 * x + 1 for x in sent[f"pipeline-{i}"]]
        assert {(r["hydro_stage"], r["hydro_application"]) for r in rows} == {(1, "pipeline")}

    shadow = by_version["which:1"]
    assert len(shadow) == 2 * 4
    assert {(r["hydro_shadow"], r["hydro_application"], r["v"]) for r in shadow} == {(True, "shadowed", 1)}
    assert sorted(r["x"] for r in shadow if r["hydro_request_id"] == "shadowed-1") == [1.0, 1.0, 2.0, 3.0]

    (failed,) = by_version["failing:1"]
    assert failed["hydro_request_id"] == "failing-0"
    assert failed["hydro_status"] not in ("OK", "")
    assert failed["x"] == 4.0 and failed["y"] is None


async def start_pair(
    start_router: StartRouter,
    tmp_path: Path,
    object_store_url: str,
    s3: S3Server | None = None,
    **sonar: object,
) -> tuple[RouterUnderTest, SonarProcess]:
    """Sonar first (following a catalog stand-in serving the router's snapshot), then the router."""
    process = await start_sonar(
        tmp_path,
        snapshot=sampled_snapshot(),
        object_store_url=object_store_url,
        s3_endpoint_url=s3.endpoint if s3 else None,
        **sonar,
    )
    router = await start_router(snapshot=sampled_snapshot(), sonar_address=process.address)
    return router, process


async def test_sampled_invokes_arrive_as_parquet_in_the_local_store(
    start_router: StartRouter, tmp_path: Path
) -> None:
    store = tmp_path / "objects"
    router, sonar = await start_pair(start_router, tmp_path, store.as_uri(), sonar_flush_age_s=3600)
    try:
        sent = await invoke_everything(router)

        async def all_acked() -> bool:
            return await acked(router) == RECORDS

        await wait_until(all_acked, 20, f"Sonar acknowledging all {RECORDS} records")
        assert local_parts(store) == {}  # nothing is due yet (flush age 1 h) ...
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()
    check_parts(local_parts(store), sent)  # ... and a graceful stop wrote everything
    metrics = parse_metrics(await router.metrics())
    assert metrics['hydro_router_sonar_records_total{outcome="sampled"}'] == RECORDS
    assert metrics['hydro_router_sonar_records_total{outcome="dropped"}'] == 0


async def test_sampled_invokes_arrive_as_parquet_on_the_s3_server(
    start_router: StartRouter, tmp_path: Path, s3_server: S3Server
) -> None:
    url = f"s3://{s3_server.bucket}/hydro"
    router, sonar = await start_pair(start_router, tmp_path, url, s3_server, sonar_flush_age_s=0.5)
    try:
        sent = await invoke_everything(router)

        async def all_written() -> bool:
            metrics = await sonar.metrics()
            return metrics.get("hydro_sonar_records_written_total") == RECORDS

        # Written by age while Sonar runs, not by a stop.
        await wait_until(all_written, 30, f"Sonar writing all {RECORDS} records to S3")
        check_parts(s3_parts(s3_server, "hydro/samples/"), sent)
        assert await acked(router) == RECORDS
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()


@pytest.mark.parametrize("flush_rows", [4])
async def test_a_full_partition_is_written_at_once(
    start_router: StartRouter, tmp_path: Path, flush_rows: int
) -> None:
    store = tmp_path / "objects"
    router, sonar = await start_pair(
        start_router, tmp_path, store.as_uri(), sonar_flush_age_s=3600, sonar_flush_rows=flush_rows
    )
    try:
        for i in range(3):  # 3 rows each: the second invoke fills the partition past 4 rows
            response = await router.http.post("/apps/double", json={"x": [1.0, 2.0, float(i)]})
            assert response.status_code == 200, response.text

        def written() -> bool:
            return len(local_parts(store)) == 1

        await wait_until(written, 20, "the full partition written while Sonar runs")
        (table,) = local_parts(store).values()
        assert table.num_rows == 6
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()
    assert sorted(t.num_rows for t in local_parts(store).values()) == [3, 6]
