"""The bad-input catalogue, fuzzed: schemathesis reads the API's own description (GET /api/v1/openapi.json,
with the admin token) and sends every operation generated inputs, valid ones (positive) and invalid ones
(negative), to a real control plane (uvicorn on loopback, SQLite). Every answer must be no 5xx, a status
the description lists for the operation, of the listed content type, with a body that fits the listed
schema.

Each operation gets up to EXAMPLES inputs a mode; in the positive mode half of them name things that
exist (a released version with training data, an application, a drift report), so the handlers get
past "not found". The upload is fuzzed too, with the small binary bodies schemathesis generates: none is
a valid package, so each one exercises the refusal of a damaged archive (a real package cannot come out of
random bytes; the upload's own tests cover good packages and the size limits). The figures (inputs per
operation and mode, run time) are printed at the end of the test's output. SQLite by default; set
HYDRO_FUZZ_DATABASE_URL to an empty PostgreSQL database to fuzz on PostgreSQL, HYDRO_FUZZ_EXAMPLES to
change the number of inputs an operation and mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.control_plane.conftest import ADMIN_TOKEN, SERVICE_TOKEN, make_settings, running
from tests.control_plane.drift_helpers import monitored_package
from tests.kafka_broker import KafkaBroker

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("HYDRO_FUZZ_EXAMPLES", "100"))
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SERVICE_AUTH = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
"""The service's operations (package download, drift-job calls) are fuzzed with the service credential,
which alone opens them; every other operation with the admin token."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
FRAMING_HEADERS = {"content-length", "transfer-encoding", "host", "connection", "expect"}


@dataclass(frozen=True)
class Existing:
    """Names of things the seeded catalog holds, for path parameters that reach past "not found"."""

    model: str = "fuzzed"
    version: int = 1
    app: str = "fuzzed-app"
    report_id: str = ""

    def path_parameters(self, names: set[str]) -> dict[str, Any]:
        values = {
            "model": self.model,
            "version": self.version,
            "app": self.app,
            "name": "default",
            "report_id": self.report_id,
        }
        return {name: values[name] for name in names if name in values}


@contextlib.contextmanager
def control_plane_in_a_thread(home: Path, kafka: KafkaBroker) -> Iterator[tuple[str, Existing]]:
    """A control plane on SQLite with Kafka brokers, seeded (its application has a Kafka endpoint), served
    from its own event loop while the sync fuzz runs."""
    database_url = os.environ.get("HYDRO_FUZZ_DATABASE_URL") or f"sqlite+aiosqlite:///{home}/hydro.db"
    settings = make_settings(home, database_url, kafka_bootstrap_servers=kafka.bootstrap_servers)
    source = kafka.topic("fuzz-in")
    ready: list[Existing] = []
    failed: list[BaseException] = []
    seeded = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def main() -> None:
        async with running(settings) as control_plane:
            client = control_plane.client
            existing = Existing()
            await control_plane.release(existing.model, monitored_package(existing.model))
            variant = {"model": existing.model, "version": 1}
            endpoint = {"source_topic": source, "destination_topic": "fuzz-out", "error_topic": "fuzz-err"}
            put = await client.put(
                f"/api/v1/applications/{existing.app}", json={"variants": [variant], "kafka": endpoint}
            )
            assert put.status_code == 200, put.text
            path = f"/api/v1/models/{existing.model}/versions/1"
            schedule = await client.put(f"{path}/monitoring", json={"cron": "@hourly", "window": "1h"})
            assert schedule.status_code == 200, schedule.text
            report = await client.post(f"{path}/drift-reports", json={"since": "1h"})
            assert report.status_code == 202, report.text
            ready.append(Existing(report_id=report.json()["id"]))
            seeded.set()
            await stop.wait()

    def run() -> None:
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # handed to the test thread
            failed.append(exc)
        finally:
            seeded.set()

    thread = threading.Thread(target=run, name="control plane", daemon=True)
    thread.start()
    seeded.wait(timeout=300)
    try:
        if failed:
            raise failed[0]
        assert ready, "the control plane was not seeded within 300 s"
        yield f"http://127.0.0.1:{settings.control_plane_port}", ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=60)
        loop.close()


def fuzz(
    operation: Any,
    strategy: st.SearchStrategy[Case],
    url: str,
    session: requests.Session,
    tried: Counter[str],
) -> str | None:
    """Send up to EXAMPLES inputs of `strategy`; the first failure's report, or None."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: Case) -> None:
        if FRAMING_HEADERS & {name.lower() for name in case.headers or {}}:
            reject()  # a made-up Content-Length is refused by the HTTP server, before the API sees it
        tried[operation.label] += 1
        headers = SERVICE_AUTH if operation.definition.raw.get("x-hydro-role") == "service" else AUTH
        case.call_and_validate(base_url=url, session=session, headers=headers, checks=CHECKS)

    try:
        send()
    except Unsatisfiable:  # negative mode: an operation without parameters or body has no invalid input
        return None
    except (Exception, BaseExceptionGroup) as exc:  # keep going: report every operation's first failure
        return f"{operation.label}: {exc}"
    return None


def test_the_api_answers_generated_inputs_as_it_describes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kafka_broker: KafkaBroker
) -> None:
    with control_plane_in_a_thread(tmp_path, kafka_broker) as (url, existing), requests.Session() as session:
        schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json", headers=AUTH)
        operations = [result.ok() for result in schema.get_all_operations()]
        operations.sort(key=lambda operation: operation.method.upper() == "DELETE")  # the seeded app last
        failures: list[str] = []
        figures: list[str] = []
        started = time.monotonic()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            tried: Counter[str] = Counter()
            mode_started = time.monotonic()
            for operation in operations:
                strategy = operation.as_strategy(mode)
                names = {parameter.name for parameter in operation.path_parameters}
                if names and (mode is GenerationMode.POSITIVE or operation.body or operation.query):
                    fixed = existing.path_parameters(names)
                    strategy = st.one_of(strategy, operation.as_strategy(mode, path_parameters=fixed))
                failure = fuzz(operation, strategy, url, session, tried)
                if failure is not None:
                    failures.append(failure)
            figures.append(
                f"{mode.value}: {sum(tried.values())} inputs over {len(tried)} operations "
                f"in {time.monotonic() - mode_started:.0f} s; per operation: "
                + ", ".join(f"{label} {count}" for label, count in sorted(tried.items()))
            )
        with capsys.disabled():
            print(f"\nschemathesis fuzz ({time.monotonic() - started:.0f} s in all):")
            for line in figures:
                print(f"  {line}")
        assert failures == [], "\n\n".join(failures)
