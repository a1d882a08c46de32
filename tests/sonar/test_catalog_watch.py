"""Sonar's catalog watch keeps every version it has ever seen, tells the release profiler about each new one
once, and lets a record of a version the catalog has not listed yet wait a little for the next snapshot."""

from __future__ import annotations

import asyncio

from protos.hydro.v1 import catalog_pb2
from servicekit.grpc_security import ServiceLink
from sonar.catalog_watch import CatalogWatch
from wire.signature import Signature

SIGNATURE = Signature.from_dict(
    {
        "inputs": [{"name": "amount", "datatype": "FP64", "shape": [-1]}],
        "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
    }
)


def version(model: str, number: int, training_data: str = "") -> catalog_pb2.ModelVersion:
    return catalog_pb2.ModelVersion(
        key=f"{model}:{number}",
        model=model,
        version=number,
        signature=SIGNATURE.to_proto(),
        training_data=training_data,
    )


def snapshot(revision: int, *versions: catalog_pb2.ModelVersion) -> catalog_pb2.Snapshot:
    return catalog_pb2.Snapshot(revision=revision, versions=list(versions))


async def test_a_version_that_left_the_catalog_keeps_its_schema() -> None:
    watch = CatalogWatch("127.0.0.1:1", link=ServiceLink("unused"))
    watch.apply(snapshot(1, version("fraud", 1)))
    watch.apply(snapshot(2, version("fraud", 2)))
    assert watch.revision == 2
    old = await watch.schema("fraud", 1, wait_s=0)
    assert old is not None and old.signature == SIGNATURE
    assert await watch.schema("fraud", 2, wait_s=0) is not None


async def test_each_new_version_is_announced_once_with_its_training_data() -> None:
    watch = CatalogWatch("127.0.0.1:1", link=ServiceLink("unused"))
    announced: list[tuple[str, int, str]] = []
    watch.on_new_version(lambda model, number, data: announced.append((model, number, data)))
    watch.apply(snapshot(1, version("fraud", 1, "data/train.parquet")))
    watch.apply(snapshot(2, version("fraud", 1, "data/train.parquet"), version("fraud", 2)))
    assert announced == [("fraud", 1, "data/train.parquet"), ("fraud", 2, "")]


async def test_an_unreadable_signature_skips_that_version_only() -> None:
    watch = CatalogWatch("127.0.0.1:1", link=ServiceLink("unused"))
    broken = version("broken", 1)
    broken.signature.inputs[0].datatype = "COMPLEX128"
    watch.apply(snapshot(1, broken, version("fraud", 1)))
    assert watch.revision == 1
    assert await watch.schema("broken", 1, wait_s=0) is None
    assert await watch.schema("fraud", 1, wait_s=0) is not None


async def test_a_record_of_an_unknown_version_waits_for_the_next_snapshot() -> None:
    watch = CatalogWatch("127.0.0.1:1", link=ServiceLink("unused"))
    watch.apply(snapshot(1, version("fraud", 1)))
    waiting = asyncio.create_task(watch.schema("fraud", 2, wait_s=5))
    await asyncio.sleep(0.01)
    watch.apply(snapshot(2, version("fraud", 1), version("fraud", 2)))
    schema = await asyncio.wait_for(waiting, 1)
    assert schema is not None and schema.version == 2


async def test_a_missing_version_is_waited_for_once_per_revision() -> None:
    watch = CatalogWatch("127.0.0.1:1", link=ServiceLink("unused"))
    watch.apply(snapshot(1, version("fraud", 1)))
    assert await watch.schema("fraud", 9, wait_s=0.05) is None
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert await watch.schema("fraud", 9, wait_s=5) is None  # same revision: answered at once
    assert loop.time() - began < 1
    watch.apply(snapshot(2, version("fraud", 1)))
    assert await watch.schema("fraud", 9, wait_s=0.05) is None  # a new revision: waited for again
