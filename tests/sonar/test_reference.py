"""The reference of a version is built once from the training data in its released package, stored in the
object store, and reused; signature fields are typed as the owner declared (or by datatype)."""

from __future__ import annotations

import asyncio
import csv
import io
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from servicekit.grpc_security import ServiceLink
from servicekit.object_keys import profile_key, reference_values_key
from servicekit.object_store import open_object_store
from sonar.catalog_watch import CatalogWatch
from sonar.control_plane_client import ControlPlane as DriftControlPlane
from sonar.errors import InvalidRequest
from sonar.reference import ensure_reference, features_from_signature, load_reference
from sonar.release_profiles import ReleaseProfiler
from sonar.settings import Settings
from tests.control_plane.conftest import (
    SERVICE_TOKEN,
    ControlPlane,
    make_settings,
    running,
    unique,
)
from tests.control_plane.packages import model_files, tar_gz

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fraud-detector"


def example_package(name: str) -> bytes:
    """The fraud-detector example folder as the CLI uploads it, under another model name."""
    files = {
        path.relative_to(EXAMPLE).as_posix(): path.read_bytes()
        for path in sorted(EXAMPLE.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
    manifest = yaml.safe_load(files["hydro.yaml"])
    manifest["name"] = name
    files["hydro.yaml"] = yaml.safe_dump(manifest).encode()
    return tar_gz(files)


@pytest.fixture
async def control_plane(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    settings = make_settings(tmp_path / "cp", f"sqlite+aiosqlite:///{tmp_path}/hydro.db")
    async with running(settings) as running_control_plane:
        yield running_control_plane


@pytest.fixture
async def drift_api(control_plane: ControlPlane) -> AsyncIterator[DriftControlPlane]:
    headers = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    async with httpx.AsyncClient(base_url=control_plane.url, headers=headers, timeout=30) as http:
        yield DriftControlPlane(http, "test-worker", 60)


def test_signature_fields_become_typed_features() -> None:
    features = features_from_signature(
        {
            "inputs": [
                {"name": "amount", "datatype": "FP32", "shape": [-1]},
                {"name": "country", "datatype": "BYTES", "shape": [-1]},
                {"name": "zip", "datatype": "INT64", "shape": [-1], "profile": "categorical"},
                {"name": "is_new", "datatype": "BOOL", "shape": [-1]},
                {"name": "rating", "datatype": "BYTES", "shape": [-1], "profile": "numeric"},
                {"name": "pixels", "datatype": "FP32", "shape": [-1, 28, 28]},
                {"name": "tokens", "datatype": "INT64", "shape": [-1, -1]},
                {"name": "one", "datatype": "FP64", "shape": [-1, 1]},
                {"name": "comment", "datatype": "BYTES", "shape": [-1], "profile": "text"},
                {"name": "id", "datatype": "INT64", "shape": [-1], "profile": "none"},
            ],
            "outputs": [
                {"name": "score", "datatype": "FP64", "shape": [-1]},
                {"name": "amount", "datatype": "FP64", "shape": [-1]},
            ],
        }
    )
    kinds = {(f.column, f.role): f.kind for f in features}
    assert kinds == {
        ("amount", "input"): "numeric",
        ("country", "input"): "categorical",
        ("zip", "input"): "categorical",
        ("is_new", "input"): "categorical",
        ("rating", "input"): "numeric",
        ("pixels", "input"): None,
        ("tokens", "input"): None,
        ("one", "input"): "numeric",
        ("comment", "input"): None,
        ("id", "input"): None,
        ("score", "output"): "numeric",
        ("output.amount", "output"): "numeric",  # the samples' column when an input has the name
    }
    notes = {f.column: f.note for f in features if f.kind is None}
    assert notes["pixels"] == "not profiled (a tensor of shape [28, 28] per item)"
    assert notes["tokens"] == "not profiled (a tensor of shape [-1] per item)"
    assert notes["comment"] == "not profiled (profile: text)"


async def test_reference_is_built_once_from_the_released_example(
    tmp_path: Path, control_plane: ControlPlane, drift_api: DriftControlPlane
) -> None:
    name = unique("fraud")
    version = await control_plane.release(name, example_package(name))
    store = open_object_store(f"file://{tmp_path}/sonar")
    downloads = 0

    async def fetch() -> IO[bytes]:
        nonlocal downloads
        downloads += 1
        return await drift_api.package(name, version)

    reference = await ensure_reference(store, name, version, fetch)

    with (EXAMPLE / "data" / "train.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    amounts = [float(r["amount"]) for r in rows]
    assert reference.rows == len(rows) == 600
    assert reference.source == "data/train.csv"
    assert [f.column for f in reference.profiled] == ["amount", "country"]
    assert [f.column for f in reference.without_reference] == ["score"]  # the model's output
    amount, country = reference.profiles["amount"], reference.profiles["country"]
    assert amount.kind == "numeric" and amount.count == 600
    assert amount.mean == pytest.approx(statistics.fmean(amounts), rel=1e-12)
    assert amount.maximum == max(amounts) and amount.minimum == min(amounts)
    assert country.kind == "categorical"
    assert dict(country.frequencies) == dict(Counter(r["country"] for r in rows))
    np.testing.assert_array_equal(reference.values["amount"], np.sort(amounts))  # stored sorted
    assert set(reference.values) == {"amount"}  # only numeric features need raw values

    keys = await store.keys(f"profiles/{name}/{version}/")
    assert keys == [profile_key(name, version), reference_values_key(name, version)]

    again = await ensure_reference(store, name, version, fetch)
    assert downloads == 1  # the stored reference is reused
    assert again.profiles == reference.profiles
    reopened = await load_reference(open_object_store(f"file://{tmp_path}/sonar"), name, version)
    assert reopened is not None and reopened.features == reference.features
    np.testing.assert_array_equal(reopened.values["amount"], reference.values["amount"])
    await store.close()


async def test_parquet_training_data_with_outputs_profiles_prediction_drift(
    tmp_path: Path, control_plane: ControlPlane, drift_api: DriftControlPlane
) -> None:
    name = unique("scored")
    signature = {
        "inputs": [
            {"name": "x", "datatype": "FP64", "shape": [-1]},
            {"name": "y", "datatype": "INT32", "shape": [-1]},
        ],
        "outputs": [
            {"name": "y", "datatype": "FP64", "shape": [-1]},
            {"name": "label", "datatype": "BYTES", "shape": [-1]},
        ],
    }
    rng = np.random.default_rng(3)
    parts = {}
    for i in range(2):  # a folder of Parquet files
        table = pa.table(
            {
                "x": rng.normal(size=100),
                "y": rng.integers(0, 5, 100).astype(np.int32),
                "output.y": rng.normal(size=100),
                "label": rng.choice(["a", "b"], 100),
            }
        )
        out = io.BytesIO()
        pq.write_table(table, out)
        parts[f"data/train/part-{i}.parquet"] = out.getvalue()
    files = {**model_files(name, signature=signature, training_data="data/train"), **parts}
    version = await control_plane.release(name, tar_gz(files))
    store = open_object_store(f"file://{tmp_path}/sonar")

    reference = await ensure_reference(store, name, version, lambda: drift_api.package(name, version))

    assert reference.rows == 200
    assert {f.column: f.role for f in reference.profiled} == {
        "x": "input",
        "y": "input",
        "output.y": "output",
        "label": "output",
    }
    assert reference.profiles["label"].kind == "categorical"
    assert sum(reference.profiles["label"].frequencies.values()) == 200
    await store.close()


async def test_a_version_without_training_data_has_no_reference(
    tmp_path: Path, control_plane: ControlPlane, drift_api: DriftControlPlane
) -> None:
    name = unique("plain")
    version = await control_plane.release(name, tar_gz(model_files(name)))
    store = open_object_store(f"file://{tmp_path}/sonar")
    with pytest.raises(InvalidRequest, match=f"{name}:{version} has no training_data"):
        await ensure_reference(store, name, version, lambda: drift_api.package(name, version))
    assert await store.keys("profiles/") == []
    await store.close()


async def test_a_released_version_is_profiled_as_soon_as_the_catalog_lists_it(
    tmp_path: Path, control_plane: ControlPlane
) -> None:
    """No drift job has run: Sonar's catalog watch alone gets the reference built and stored."""
    name = unique("fraud")
    version = await control_plane.release(name, example_package(name))
    spec = {"stages": [{"variants": [{"model": name, "version": version, "weight": 100}]}]}
    put = await control_plane.client.put(f"/api/v1/applications/{unique('app')}", json=spec)
    assert put.status_code == 200, put.text
    store = open_object_store(f"file://{tmp_path}/sonar")
    settings = Settings(
        control_plane_url=control_plane.url,
        service_token=SERVICE_TOKEN,
        catalog_address=control_plane.catalog_address,
        object_store_url=f"file://{tmp_path}/sonar",
    )
    catalog = CatalogWatch(control_plane.catalog_address, link=ServiceLink(SERVICE_TOKEN))
    profiler = ReleaseProfiler()
    catalog.on_new_version(profiler.released)
    tasks = [asyncio.create_task(catalog.run()), asyncio.create_task(profiler.run(settings, store))]
    try:
        deadline = time.monotonic() + 60
        while (name, version) not in profiler.profiled:
            assert time.monotonic() < deadline, "the released version was not profiled within 60 s"
            for task in tasks:
                assert not task.done(), task
            await asyncio.sleep(0.05)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    reference = await load_reference(store, name, version)
    assert reference is not None and reference.rows == 600
    assert [f.column for f in reference.profiled] == ["amount", "country"]
    await store.close()
