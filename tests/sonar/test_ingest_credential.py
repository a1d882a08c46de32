"""Sonar's ingest takes sampled records only from callers with the service credential."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import grpc
import pytest

from protos.hydro.v1 import sonar_pb2, sonar_pb2_grpc
from servicekit.grpc_security import ServiceLink
from tests.router.standins import SERVICE_TOKEN, application, snapshot, version
from tests.sonar.harness import start_sonar
from tests.sonar.test_ingest_stop import X, Y, record


async def _ingest(channel: grpc.aio.Channel) -> list[sonar_pb2.IngestAck]:
    stub = sonar_pb2_grpc.SonarStub(channel)  # type: ignore[no-untyped-call]
    batch = sonar_pb2.RecordBatch(seq=1, records=[record("r1", 1), record("r2", 2)])
    return [ack async for ack in stub.Ingest(iter([batch]), timeout=20)]


async def test_ingest_refuses_a_caller_without_the_service_credential(tmp_path: Path) -> None:
    rates = snapshot(1, [application("app", [("m:1", 100)])], [version("m", 1, X, Y)])
    sonar = await start_sonar(tmp_path, snapshot=rates, object_store_url=(tmp_path / "objects").as_uri())
    try:
        async with grpc.aio.insecure_channel(sonar.address) as anonymous:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _ingest(anonymous)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "no `authorization` metadata was sent" in str(refused.value.details())
        async with ServiceLink("a-guess").channel(sonar.address) as guessing:
            with pytest.raises(grpc.aio.AioRpcError) as wrong:
                await _ingest(guessing)
        assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "the bearer token is not the service credential" in str(wrong.value.details())

        async with ServiceLink(SERVICE_TOKEN).channel(sonar.address) as trusted:
            acks = await _ingest(trusted)
        assert [(ack.seq, ack.accepted, ack.rejected) for ack in acks] == [(1, 2, 0)]
        # Only the trusted caller's two records got in.
        assert (await sonar.metrics())['hydro_sonar_records_total{outcome="accepted"}'] == 2
    finally:
        assert await sonar.stop(signal.SIGTERM) == 0, sonar.log_text()
    refusals = re.findall(
        r"refused /hydro\.v1\.Sonar/Ingest from ipv4:127\.0\.0\.1:\d+: (.*)", sonar.log_text()
    )
    assert refusals == [
        "no `authorization` metadata was sent",
        "the bearer token is not the service credential",
    ], sonar.log_text()
