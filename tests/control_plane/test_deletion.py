"""Deleting versions, models and deployment configs on a real control plane (process runtime), on
PostgreSQL and SQLite: refused while in use (naming who uses it), else rows and stored objects go, what was
removed is answered, and a second DELETE is a 404. Replicas: the scaler retires a version that leaves the
snapshot (tests/scaler/test_catalog.py); the Docker story (tests/e2e/test_deletion_on_docker.py) shows it
with images and the registry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text

from control_plane.catalog import Catalog, Notifier
from control_plane.db import MIGRATIONS, create_engine, migrate, sessionmaker
from control_plane.deletion import Cleanup, delete_version
from control_plane.errors import NotFound
from control_plane.registry import Registry
from control_plane.tables import Model, ModelVersion, VersionStatus
from servicekit.object_keys import (
    package_key,
    profile_key,
    reference_values_key,
    sample_part_key,
)
from servicekit.object_store import FileObjectStore
from tests.control_plane.conftest import ControlPlane, unique
from tests.control_plane.drift_helpers import (
    ManualClock,
    Worker,
    database_kinds,
    monitored_package,
    own_database,
    plane,
)
from tests.ports import free_port

NOW = datetime(2026, 12, 1, tzinfo=UTC)
SCHEDULE = {"cron": "0 * * * *", "window": "1h"}


def as_sonar_would(objects: Path, model: str, version: int) -> list[str]:
    """Write the reference profile and a sampled-traffic part where Sonar writes them; return the keys."""
    keys = [
        profile_key(model, version),
        reference_values_key(model, version),
        sample_part_key(model, version, 1_760_000_000_000, "a"),
    ]
    for key in keys:
        (objects / key).parent.mkdir(parents=True, exist_ok=True)
        (objects / key).write_bytes(b"written by sonar")
    return keys


def app_on(model: str, version: int, config: str = "default") -> dict[str, Any]:
    return {"stages": [{"variants": [{"model": model, "version": version, "deployment_config": config}]}]}


async def test_a_version_in_use_is_refused_then_deleted_once_the_application_moves_on(
    alone: ControlPlane,
) -> None:
    cp = alone
    model = unique("doomed")
    first = await cp.release(model, monitored_package(model))
    second = await cp.release(model, monitored_package(model))
    app = unique("shop")
    assert (await cp.client.put(f"/api/v1/applications/{app}", json=app_on(model, first))).status_code == 200
    put = await cp.client.put(f"/api/v1/models/{model}/versions/{first}/monitoring", json=SCHEDULE)
    assert put.status_code == 200, put.text
    report = await cp.client.post(
        f"/api/v1/models/{model}/versions/{first}/drift-reports", json={"since": "1h"}
    )
    assert report.status_code == 202, report.text
    worker = Worker(cp.service)
    job = await worker.job()
    assert (await worker.complete(job["id"])).status_code == 200
    sonar_keys = as_sonar_would(cp.objects, model, first)

    refused = await cp.client.delete(f"/api/v1/models/{model}/versions/{first}")
    assert refused.status_code == 409, refused.text
    message = refused.json()["error"]
    assert f"application {app!r}" in message and "stage 0, variant 0" in message, message
    assert (await cp.client.delete(f"/api/v1/models/{model}")).status_code == 409
    assert (cp.objects / package_key(model, first)).is_file(), "a refusal removes nothing"

    moved = await cp.client.put(f"/api/v1/applications/{app}", json=app_on(model, second))
    assert moved.status_code == 200, moved.text
    deleted = await cp.client.delete(f"/api/v1/models/{model}/versions/{first}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {
        "removed": {
            "versions": [f"{model}:{first}"],
            "objects": 3,  # the package and the two reference files; the report page is kept
            "images": [],  # the process runtime builds none
            "drift_reports": 0,  # kept without purge
            "samples": 0,
        },
        "failed": [],
    }
    assert not (cp.objects / package_key(model, first)).exists()
    assert not (cp.objects / profile_key(model, first)).exists()
    assert (cp.objects / sonar_keys[2]).is_file(), "sampled traffic is kept without purge"
    assert list((cp.objects / "reports" / model / str(first)).iterdir()), "the report page is kept"
    gone = await cp.client.get(f"/api/v1/models/{model}/versions/{first}")
    assert gone.status_code == 404
    listed = (await cp.client.get(f"/api/v1/models/{model}/versions")).json()["versions"]
    assert [v["version"] for v in listed] == [second]
    again = await cp.client.delete(f"/api/v1/models/{model}/versions/{first}")
    assert again.status_code == 404, again.text
    assert again.json()["error"] == f"model {model!r} has no version {first}"
    assert (await cp.client.get(f"/api/v1/applications/{app}")).status_code == 200


@pytest.fixture(params=database_kinds())
async def alone(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ControlPlane]:
    """A control plane on a database of its own: a worker's claim takes any version's pending report."""
    async with own_database(request.param, tmp_path) as url, plane(tmp_path, url, ManualClock()) as cp:
        yield cp


async def test_a_deleted_versions_reports_are_kept_and_still_answer_unless_purged(
    alone: ControlPlane,
) -> None:
    cp = alone
    model = unique("reported")
    version = await cp.release(model, monitored_package(model))
    worker = Worker(cp.service)
    first = await cp.client.post(
        f"/api/v1/models/{model}/versions/{version}/drift-reports", json={"since": "1h"}
    )
    assert first.status_code == 202, first.text
    done = await worker.job()
    assert (await worker.complete(done["id"])).status_code == 200
    running = await cp.client.post(
        f"/api/v1/models/{model}/versions/{version}/drift-reports", json={"since": "2h"}
    )
    assert (await worker.job())["id"] == running.json()["id"]
    pending = await cp.client.post(
        f"/api/v1/models/{model}/versions/{version}/drift-reports", json={"since": "3h"}
    )
    page = (await cp.client.get(f"/api/v1/drift-reports/{done['id']}/html")).text

    deleted = await cp.client.delete(f"/api/v1/models/{model}/versions/{version}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["removed"]["drift_reports"] == 0

    kept = await cp.client.get(f"/api/v1/drift-reports/{done['id']}")
    assert kept.status_code == 200, kept.text
    assert (kept.json()["model"], kept.json()["version"], kept.json()["status"]) == (model, version, "done")
    assert kept.json()["features"] is not None
    html = await cp.client.get(f"/api/v1/drift-reports/{done['id']}/html")
    assert html.status_code == 200 and html.text == page
    listed = await cp.client.get(f"/api/v1/models/{model}/versions/{version}/drift-reports")
    assert listed.status_code == 200, listed.text
    assert {r["id"] for r in listed.json()["drift_reports"]} == {
        done["id"],
        running.json()["id"],
        pending.json()["id"],
    }
    # No worker can compute a report of a deleted version: unfinished ones failed, saying why.
    for unfinished in (running.json()["id"], pending.json()["id"]):
        report = (await cp.client.get(f"/api/v1/drift-reports/{unfinished}")).json()
        assert report["status"] == "failed" and "version was deleted" in report["error"], report
    await worker.nothing_due()
    late = await worker.complete(running.json()["id"])
    assert late.status_code == 409 and "already failed" in late.json()["error"], late.text
    never = await cp.client.get(f"/api/v1/models/{model}/versions/{version + 1}/drift-reports")
    assert never.status_code == 404, never.text
    again = await cp.client.post(
        f"/api/v1/models/{model}/versions/{version}/drift-reports", json={"since": "1h"}
    )
    assert again.status_code == 404, "a deleted version gets no new reports"

    # A purge of the model also removes the reports kept from its versions deleted earlier.
    purged = await cp.client.delete(f"/api/v1/models/{model}?purge=true")
    assert purged.status_code == 200, purged.text
    assert purged.json()["removed"]["drift_reports"] == 3
    assert (await cp.client.get(f"/api/v1/drift-reports/{done['id']}")).status_code == 404
    assert (await cp.client.get(f"/api/v1/drift-reports/{done['id']}/html")).status_code == 404
    assert not any(p.is_file() for p in (cp.objects / "reports" / model).rglob("*"))


async def test_purge_also_removes_sampled_traffic_and_report_pages(alone: ControlPlane) -> None:
    cp = alone
    model = unique("purged")
    version = await cp.release(model, monitored_package(model))
    report = await cp.client.post(
        f"/api/v1/models/{model}/versions/{version}/drift-reports", json={"since": "1h"}
    )
    assert report.status_code == 202, report.text
    worker = Worker(cp.service)
    job = await worker.job()
    assert (await worker.complete(job["id"])).status_code == 200
    as_sonar_would(cp.objects, model, version)

    bad = await cp.client.delete(f"/api/v1/models/{model}/versions/{version}?purge=yes")
    assert bad.status_code == 400 and "purge" in bad.json()["error"]
    deleted = await cp.client.delete(f"/api/v1/models/{model}/versions/{version}?purge=true")
    assert deleted.status_code == 200, deleted.text
    removed = deleted.json()["removed"]
    assert (removed["objects"], removed["drift_reports"], removed["samples"]) == (4, 1, 1), removed
    assert not (cp.objects / "samples" / model / str(version)).exists() or not any(
        p.is_file() for p in (cp.objects / "samples" / model / str(version)).rglob("*")
    )
    assert (await cp.client.get(f"/api/v1/drift-reports/{job['id']}")).status_code == 404
    assert (await cp.client.get(f"/api/v1/drift-reports/{job['id']}/html")).status_code == 404
    listed = await cp.client.get(f"/api/v1/models/{model}/versions/{version}/drift-reports")
    assert listed.status_code == 404, listed.text


async def test_deleting_a_model_removes_every_version_and_numbers_are_never_reused(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    model = unique("whole")
    versions = [await cp.release(model, monitored_package(model)) for _ in range(2)]
    deleted = await cp.client.delete(f"/api/v1/models/{model}")
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["removed"]["versions"] == [f"{model}:{v}" for v in versions]
    assert model not in [m["name"] for m in (await cp.client.get("/api/v1/models")).json()["models"]]
    assert (await cp.client.delete(f"/api/v1/models/{model}")).status_code == 404
    assert (await cp.client.delete(f"/api/v1/models/{unique('never')}")).status_code == 404
    # Kept samples of model:1 must never be mistaken for a new model:1's, so numbering goes on.
    assert await cp.release(model, monitored_package(model)) == versions[-1] + 1
    purged = await cp.client.delete(f"/api/v1/models/{model}?purge=true")
    assert purged.status_code == 200, purged.text
    assert (await cp.client.get(f"/api/v1/models/{model}/versions")).status_code == 404


async def test_a_deployment_config_in_use_or_default_is_refused_else_deleted_once(
    control_plane: ControlPlane,
) -> None:
    cp = control_plane
    model = unique("configured")
    version = await cp.release(model, monitored_package(model))
    config, app = unique("small"), unique("uses-small")
    assert (await cp.client.put(f"/api/v1/deployment-configs/{config}", json={})).status_code == 200
    assert (
        await cp.client.put(f"/api/v1/applications/{app}", json=app_on(model, version, config))
    ).status_code == 200

    refused = await cp.client.delete(f"/api/v1/deployment-configs/{config}")
    assert refused.status_code == 409, refused.text
    assert f"application {app!r}" in refused.json()["error"]
    default = await cp.client.delete("/api/v1/deployment-configs/default")
    assert default.status_code == 409 and "'default'" in default.json()["error"]

    assert (await cp.client.delete(f"/api/v1/applications/{app}")).status_code == 204
    assert (await cp.client.delete(f"/api/v1/deployment-configs/{config}")).status_code == 204
    assert (await cp.client.get(f"/api/v1/deployment-configs/{config}")).status_code == 404
    assert (await cp.client.delete(f"/api/v1/deployment-configs/{config}")).status_code == 404


async def test_gc_needs_the_docker_runtime(control_plane: ControlPlane) -> None:
    answer = await control_plane.client.post("/api/v1/gc?dry_run=true")
    assert answer.status_code == 409 and "process runtime" in answer.json()["error"]


async def test_what_cannot_be_removed_after_the_rows_went_is_named_in_the_answer(tmp_path: Path) -> None:
    """The registry is down: the version is still gone from the catalog (it must not half-exist), its
    package is removed, and the answer names the image it could not delete."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/hydro.db")
    await migrate(engine)
    catalog = Catalog(sessionmaker(engine), Notifier())
    store = FileObjectStore(tmp_path / "objects")
    down = f"127.0.0.1:{free_port()}"  # nothing listens
    registry = Registry(down, timeout_s=2)
    try:
        await store.put(package_key("orphan", 1), b"package")
        async with catalog.write() as session:
            session.add(Model(name="orphan", latest_version=1))
            await session.flush()
            session.add(
                ModelVersion(
                    model_name="orphan",
                    version=1,
                    status=VersionStatus.RELEASED,
                    manifest={"name": "orphan", "version": 1},
                    artifact_url="",
                    image=f"{down}/orphan:1",
                )
            )
        before = await catalog.revision()
        removed = await delete_version(catalog, Cleanup(store, registry), "orphan", 1, purge=False)
        assert removed.versions == ["orphan:1"] and removed.objects == 1 and removed.images == []
        assert len(removed.failed) == 1 and f"cannot reach the registry {down}" in removed.failed[0]
        assert await catalog.revision() > before, "the deletion is a catalog change the scaler sees"
        with pytest.raises(NotFound):
            await delete_version(catalog, Cleanup(store, registry), "orphan", 1, purge=False)
    finally:
        await registry.close()
        await engine.dispose()


@pytest.mark.parametrize("kind", database_kinds())
async def test_reports_written_before_migration_0006_learn_their_model_and_version(
    kind: str, tmp_path: Path
) -> None:
    """Upgrading a catalog with reports: each gets its version's model and number, and then outlives it."""
    async with own_database(kind, tmp_path) as database_url:
        await _upgrade_a_catalog_with_reports(database_url)


async def _upgrade_a_catalog_with_reports(database_url: str) -> None:

    def upgrade_to(revision: str) -> Callable[[Connection], None]:
        def run(connection: Connection) -> None:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

        return run

    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to("0005"))
            await connection.execute(
                text("INSERT INTO models (name, latest_version, created_at) VALUES ('old', 2, :t)"),
                {"t": NOW},
            )
            for number in (1, 2):
                await connection.execute(
                    text(
                        "INSERT INTO model_versions (id, model_name, version, status, manifest, "
                        "artifact_url, log, created_at, updated_at, build_attempts) "
                        "VALUES (:id, 'old', :n, 'released', '{}', '', '', :t, :t, 0)"
                    ),
                    {"id": 10 + number, "n": number, "t": NOW},
                )
                await connection.execute(
                    text(
                        "INSERT INTO drift_reports (id, version_id, window_start, window_end, trigger, "
                        "status, thresholds, attempts, created_at) "
                        "VALUES (:id, :v, :t, :t, 'manual', 'done', '{}', 1, :t)"
                    ),
                    {"id": f"r{number}", "v": 10 + number, "t": NOW},
                )
        await migrate(engine)
        async with engine.begin() as connection:
            await connection.execute(text("DELETE FROM model_versions WHERE id = 11"))
            rows = (
                await connection.execute(
                    text("SELECT id, model_name, version, version_id FROM drift_reports ORDER BY id")
                )
            ).all()
        assert [tuple(row) for row in rows] == [("r1", "old", 1, None), ("r2", "old", 2, 12)]
    finally:
        await engine.dispose()
