"""The scaler on the docker backend: hardened containers from the registry, on real Docker.

One tiny model image is built per session FROM the runtime base image and pushed to the registry on
127.0.0.1:5000, as the control plane would.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import httpx
import pytest

from protos.hydro.v1 import catalog_pb2
from scaler.errors import ImageError
from scaler.runtimes.base import ReplicaSpec
from scaler.runtimes.docker import DockerRuntime
from tests.real_parts import BASE_IMAGE, require_docker_parts
from tests.scaler.catalog import CatalogServer, Version, snapshot
from tests.scaler.conftest import ScalerFactory
from tests.scaler.harness import TEST_INSTANCE, ready_ids
from tests.scaler.images import build_and_push
from tests.scaler.test_process_scaler import infer

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MODEL = f"scaler-test-{uuid.uuid4().hex[:6]}"
KEY = f"{MODEL}:1"
GONE_KEY = f"{MODEL}-gone:1"


@pytest.fixture(scope="module")
def docker_client() -> docker.DockerClient:
    return require_docker_parts()


@pytest.fixture(scope="module")
def image(docker_client: docker.DockerClient, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    image = build_and_push(docker_client, tmp_path_factory.mktemp("image"), MODEL, 1)
    yield image
    remove_containers(docker_client)
    try:
        docker_client.images.remove(image, force=True)
    except docker.errors.ImageNotFound:
        pass


@pytest.fixture(autouse=True)
def no_leftover_containers(docker_client: docker.DockerClient) -> Iterator[None]:
    yield
    assert remove_containers(docker_client) == [], "the scaler left containers behind"
    left = holders(docker_client)
    for holder in left:
        holder.remove(force=True)
    assert left == [], "the scaler left network-namespace holders behind"


def holders(client: docker.DockerClient) -> list[docker.models.containers.Container]:
    found: list[docker.models.containers.Container] = client.containers.list(
        all=True,
        filters={"label": [f"hydro.scaler={TEST_INSTANCE}", "hydro.role=netns-holder"]},
        ignore_removed=True,  # one removed between the listing and its inspection is gone
    )
    return found


def assert_hardened(container: docker.models.containers.Container) -> None:
    host = container.attrs["HostConfig"]
    assert container.attrs["Config"]["User"] == "10001"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] > 0


def containers(client: docker.DockerClient, key: str = KEY) -> list[docker.models.containers.Container]:
    found: list[docker.models.containers.Container] = client.containers.list(
        all=True, filters={"label": f"hydro.version={key}"}, ignore_removed=True
    )
    return found


def remove_containers(client: docker.DockerClient) -> list[str]:
    """Remove this module's containers by label; return the ids of those that were still there."""
    removed = []
    for key in (KEY, GONE_KEY):
        for container in containers(client, key):
            container.remove(force=True)
            removed.append(container.id)
    return removed


def docker_snapshot(revision: int, image: str, **config: float) -> catalog_pb2.Snapshot:
    knobs = {"scale_to_zero_grace_s": 1.0, "cpu": 0.5, "memory_mb": 256, **config}
    return snapshot(revision, [Version(MODEL, 1, image=image)], default=knobs)


async def test_activate_pulls_and_runs_a_hardened_container_on_loopback_then_scale_to_zero_removes_it(
    docker_client: docker.DockerClient, image: str, catalog: CatalogServer, start_scaler: ScalerFactory
) -> None:
    docker_client.images.remove(image)  # the host lacks the image: the first activation pulls it
    catalog.publish(docker_snapshot(2, image))
    # Each replica with a network of its own (the holders' path has its own test), announced at its
    # published port (the holders' test covers the default, the bridge address).
    scaler = await start_scaler(
        runtime="docker",
        scaler_keep_containers=False,
        scaler_prepull=False,
        scaler_netns_holders=0,
        scaler_replica_address="published",
    )
    watch = scaler.watch()

    started = time.perf_counter()
    await asyncio.gather(*(scaler.activate(KEY) for _ in range(20)))
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a container is ready", timeout=60)
    with_pull = time.perf_counter() - started
    docker_client.images.get(image)

    [container] = containers(docker_client)
    endpoint = state[KEY].ready[0]
    assert endpoint.replica_id == container.id
    assert container.labels["hydro.managed"] == "true"
    host = container.attrs["HostConfig"]
    assert host["PortBindings"]["9000/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": ""}]
    published = container.attrs["NetworkSettings"]["Ports"]["9000/tcp"]
    assert {binding["HostIp"] for binding in published} == {"127.0.0.1"}
    assert endpoint.address == f"127.0.0.1:{published[0]['HostPort']}"
    assert container.attrs["Config"]["User"] == "10001"
    assert host["ReadonlyRootfs"] is True and "/tmp" in host["Tmpfs"]
    assert host["CapDrop"] == ["ALL"] and host["SecurityOpt"] == ["no-new-privileges"]
    assert host["PidsLimit"] > 0
    assert host["NanoCpus"] == 500_000_000 and host["Memory"] == 256 * 1024 * 1024
    # Numeric libraries start one thread per CPU the limit grants, not per host core.
    assert "OPENBLAS_NUM_THREADS=1" in container.attrs["Config"]["Env"]
    assert await infer(endpoint.address, [4.0], MODEL) == [8.0]

    # No load: after the grace period the container leaves the endpoints, then is stopped and removed.
    await watch.until(
        lambda s: ready_ids(s, KEY) == [], "the idle container leaves the endpoints", timeout=20
    )
    await until_no_containers(docker_client)

    # Again, with the image on the host: the cold start the product promises.
    started = time.perf_counter()
    await scaler.activate(KEY)
    await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a container is ready again", timeout=60)
    warm_host = time.perf_counter() - started
    print(
        f"docker cold start (Activate -> ready): {warm_host:.3f} s image on host, {with_pull:.3f} s pulling"
    )
    assert len(containers(docker_client)) == 1
    await watch.until(lambda s: ready_ids(s, KEY) == [], "idle again", timeout=20)
    await until_no_containers(docker_client)


async def test_a_replica_joins_a_pooled_hardened_holders_network_and_both_go_when_it_scales_to_zero(
    docker_client: docker.DockerClient, image: str, catalog: CatalogServer, start_scaler: ScalerFactory
) -> None:
    docker_client.images.pull(image)
    catalog.publish(docker_snapshot(2, image, scale_to_zero_grace_s=60.0))
    scaler = await start_scaler(
        runtime="docker",
        scaler_keep_containers=False,
        scaler_netns_holders=2,
        scaler_holder_refill_delay_s=0.2,
    )
    await until(lambda: len(holders(docker_client)) == 2, "the pool holds two idle holders")
    pooled = {h.id for h in holders(docker_client)}
    watch = scaler.watch()

    await scaler.activate(KEY)
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a container is ready", timeout=60)
    [container] = containers(docker_client)
    holder_id = container.labels["hydro.holder"]
    assert holder_id in pooled, "the replica took an idle holder from the pool"
    assert container.attrs["HostConfig"]["NetworkMode"] == f"container:{holder_id}"
    assert_hardened(container)
    holder = docker_client.containers.get(holder_id)
    assert_hardened(holder)
    assert holder.labels["hydro.managed"] == "true" and holder.labels["hydro.role"] == "netns-holder"
    published = holder.attrs["NetworkSettings"]["Ports"]["9000/tcp"]
    assert {binding["HostIp"] for binding in published} == {"127.0.0.1"}
    # The replica is announced at its holder's bridge address (calls skip docker's userland proxy);
    # the published port answers too.
    endpoint = state[KEY].ready[0]
    assert endpoint.address == f"{holder.attrs['NetworkSettings']['IPAddress']}:9000"
    assert await infer(endpoint.address, [4.0], MODEL) == [8.0]
    assert await infer(f"127.0.0.1:{published[0]['HostPort']}", [4.0], MODEL) == [8.0]
    # The pool refills in the background: two idle holders again, besides the replica's own.
    await until(lambda: len(holders(docker_client)) == 3, "the pool refills")

    text = await scrape(scaler.settings.scaler_metrics_port)
    assert 'hydro_scaler_replica_start_seconds_count{backend="docker",phase="holder-wait"} 1.0' in text

    # Idle past the grace period: the replica goes, and its holder with it; the pool stays.
    catalog.publish(docker_snapshot(3, image, scale_to_zero_grace_s=0.0))
    await watch.until(lambda s: ready_ids(s, KEY) == [], "the idle replica leaves", timeout=20)
    await until_no_containers(docker_client)
    await eventually_gone(docker_client, holder_id)
    assert len(holders(docker_client)) == 2


async def test_a_restarted_scaler_adopts_a_replica_with_its_holder_and_idle_holders_and_leaves_no_orphan(
    docker_client: docker.DockerClient, image: str, catalog: CatalogServer, start_scaler: ScalerFactory
) -> None:
    catalog.publish(docker_snapshot(2, image, scale_to_zero_grace_s=60.0))
    first = await start_scaler(runtime="docker", scaler_keep_containers=True, scaler_netns_holders=1)
    watch = first.watch()
    await first.activate(KEY)
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a container is ready", timeout=60)
    endpoint = state[KEY].ready[0]
    [container] = containers(docker_client)
    holder_id = container.labels["hydro.holder"]
    await first.stop()
    # The replica and its holder outlive the scaler; idle holders are removed with it.
    assert [h.id for h in holders(docker_client)] == [holder_id]
    # An idle holder a crashed scaler left behind, and one that stopped.
    runtime = DockerRuntime(instance=TEST_INSTANCE, holders=1, holder_image=BASE_IMAGE)
    try:
        assert runtime.holders is not None
        [spare, dead] = await asyncio.gather(runtime.holders.take(), runtime.holders.take())
        assert spare[0] is not None and dead[0] is not None
        docker_client.api.kill(dead[0].container_id)
    finally:
        await runtime.close()
    assert len(holders(docker_client)) == 3

    second = await start_scaler(runtime="docker", scaler_keep_containers=False, scaler_netns_holders=1)
    watch = second.watch()
    state = await watch.until(
        lambda s: ready_ids(s, KEY) == [container.id], "the replica is adopted", timeout=20
    )
    assert state[KEY].ready[0].address == endpoint.address, "reached through its holder's port"
    assert await infer(endpoint.address, [1.5], MODEL) == [3.0]
    await eventually_gone(docker_client, dead[0].container_id)
    ids = {h.id for h in holders(docker_client)}
    assert ids == {holder_id, spare[0].container_id}, "the idle holder joined the pool; no new one"
    assert len(containers(docker_client)) == 1
    await second.stop()
    assert containers(docker_client) == [] and holders(docker_client) == [], "no orphan"


async def test_with_spares_a_cold_start_only_starts_a_container_created_ahead_and_a_new_one_is_made(
    docker_client: docker.DockerClient, image: str, catalog: CatalogServer, start_scaler: ScalerFactory
) -> None:
    docker_client.images.pull(image)
    catalog.publish(docker_snapshot(2, image, scale_to_zero_grace_s=60.0))
    scaler = await start_scaler(
        runtime="docker",
        scaler_keep_containers=False,
        scaler_netns_holders=1,
        scaler_spares=True,
        scaler_holder_refill_delay_s=0.2,
    )
    await until(lambda: len(containers(docker_client)) == 1, "a spare container is created")
    [spare] = containers(docker_client)
    assert spare.status == "created", "created ahead, not started"
    assert spare.attrs["HostConfig"]["NetworkMode"] == f"container:{spare.labels['hydro.holder']}"
    assert_hardened(spare)
    watch = scaler.watch()

    await scaler.activate(KEY)
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a container is ready", timeout=60)
    assert state[KEY].ready[0].replica_id == spare.id, "the cold start started the spare"
    assert await infer(state[KEY].ready[0].address, [2.0], MODEL) == [4.0]
    text = await scrape(scaler.settings.scaler_metrics_port)
    assert sample(text, 'hydro_scaler_replica_start_seconds_sum{backend="docker",phase="create"}') == 0.0
    # A new spare is made in the background for the next cold start.
    await until(lambda: len(containers(docker_client)) == 2, "a new spare is created")
    assert sorted(c.status for c in containers(docker_client)) == ["created", "running"]
    await scaler.stop()
    assert containers(docker_client) == [] and holders(docker_client) == [], "no orphan"


@pytest.mark.parametrize("netns_holders", [0, 1])
async def test_a_container_that_dies_leaves_the_endpoints_at_once_and_is_replaced(
    docker_client: docker.DockerClient,
    image: str,
    catalog: CatalogServer,
    start_scaler: ScalerFactory,
    netns_holders: int,
) -> None:
    catalog.publish(docker_snapshot(2, image, scale_to_zero_grace_s=60.0))
    scaler = await start_scaler(
        runtime="docker", scaler_keep_containers=False, scaler_netns_holders=netns_holders
    )
    watch = scaler.watch()
    await scaler.activate(KEY)
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a container is ready", timeout=60)
    victim = state[KEY].ready[0].replica_id

    docker_client.api.kill(victim)

    await watch.until(lambda s: victim not in ready_ids(s, KEY), "the dead container leaves", timeout=2)
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a replacement is ready", timeout=60)
    assert ready_ids(state, KEY) != [victim]
    assert await infer(state[KEY].ready[0].address, [1.0], MODEL) == [2.0]
    await eventually_gone(docker_client, victim)
    # With holders, the dead replica's holder went with it: one for the replacement, one idle.
    await until(lambda: len(holders(docker_client)) == 2 * netns_holders, "the dead one's holder is gone")


async def test_a_restarted_scaler_adopts_its_containers_and_removes_those_of_unknown_versions(
    docker_client: docker.DockerClient,
    image: str,
    catalog: CatalogServer,
    start_scaler: ScalerFactory,
) -> None:
    catalog.publish(docker_snapshot(2, image, scale_to_zero_grace_s=60.0))
    first = await start_scaler(runtime="docker", scaler_keep_containers=True)
    watch = first.watch()
    await first.activate(KEY)
    state = await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a container is ready", timeout=60)
    replica = state[KEY].ready[0].replica_id
    await first.stop()
    assert [c.id for c in containers(docker_client)] == [replica], "the container outlives its scaler"
    # A container of a version the catalog no longer lists, left by some earlier scaler.
    stray = docker_client.containers.run(
        image,
        detach=True,
        labels={"hydro.managed": "true", "hydro.version": GONE_KEY, "hydro.scaler": TEST_INSTANCE},
        ports={"9000/tcp": ("127.0.0.1", None)},
        user="10001",
    )
    # A container another scaler on the same engine owns: not ours to adopt or remove.
    foreign = docker_client.containers.run(
        image,
        detach=True,
        labels={"hydro.managed": "true", "hydro.version": GONE_KEY, "hydro.scaler": "someone-else"},
        ports={"9000/tcp": ("127.0.0.1", None)},
        user="10001",
    )

    second = await start_scaler(runtime="docker", scaler_keep_containers=False)
    watch = second.watch()
    state = await watch.until(
        lambda s: ready_ids(s, KEY) == [replica], "the container is adopted", timeout=20
    )
    assert len(containers(docker_client)) == 1, "adoption started no duplicate"
    await eventually_gone(docker_client, stray.id)
    foreign.reload()
    assert foreign.status == "running", "another scaler's container is left alone"
    foreign.remove(force=True)
    # The adopted replica answers, and Activate does not start another one.
    assert await infer(state[KEY].ready[0].address, [1.5], MODEL) == [3.0]
    assert (await second.activate(KEY)).ready_replicas == 1
    assert len(containers(docker_client)) == 1


async def test_a_missing_image_is_a_failed_start_naming_it(image: str, tmp_path: Path) -> None:
    runtime = DockerRuntime()
    try:
        missing = image.rpartition(":")[0] + ":404"
        with pytest.raises(ImageError, match=missing):
            await runtime.start(ReplicaSpec(f"{MODEL}:404", MODEL, 404, missing, ""))
    finally:
        await runtime.close()


async def test_a_version_listed_in_the_catalog_is_pulled_before_any_activate(
    docker_client: docker.DockerClient, image: str, catalog: CatalogServer, start_scaler: ScalerFactory
) -> None:
    missing = f"{image.rpartition(':')[0]}-absent:1"  # not in the registry: its pre-pull fails
    with contextlib.suppress(docker.errors.ImageNotFound):
        docker_client.images.remove(image)
    scaler = await start_scaler(runtime="docker", scaler_keep_containers=False)
    assert not has_image(docker_client, image)

    catalog.publish(
        snapshot(
            2,
            [Version(MODEL, 1, image=image), Version(f"{MODEL}-absent", 1, image=missing)],
            default={"scale_to_zero_grace_s": 1.0, "cpu": 0.5, "memory_mb": 256},
        )
    )
    deadline = time.monotonic() + 60
    while not has_image(docker_client, image):
        assert time.monotonic() < deadline, f"{image} was not pulled within 60 s of its listing"
        await asyncio.sleep(0.1)
    # Pulled without any Activate: no container exists; the failed pull did not stop the scaler.
    assert containers(docker_client) == []
    text = await scrape(scaler.settings.scaler_metrics_port)
    assert 'hydro_scaler_image_pull_seconds_count{backend="docker",reason="prepull"} 1.0' in text
    failures = 'hydro_scaler_image_pull_failures_total{backend="docker",reason="prepull"}'
    deadline = time.monotonic() + 30
    while failures + " 1.0" not in text:
        assert time.monotonic() < deadline, f"the failed pre-pull was not counted:\n{text}"
        await asyncio.sleep(0.2)
        text = await scrape(scaler.settings.scaler_metrics_port)
    assert KEY in await scaler.replicas(), "the scaler still serves its catalog"


async def test_metrics_break_a_cold_start_into_phases_and_show_the_replica_gauges(
    docker_client: docker.DockerClient, image: str, catalog: CatalogServer, start_scaler: ScalerFactory
) -> None:
    docker_client.images.pull(image)  # image on the host: the cold start the product promises
    catalog.publish(docker_snapshot(2, image, scale_to_zero_grace_s=60.0))
    scaler = await start_scaler(runtime="docker", scaler_keep_containers=False)
    watch = scaler.watch()
    await scaler.activate(KEY)
    await watch.until(lambda s: len(ready_ids(s, KEY)) == 1, "a container is ready", timeout=60)
    await asyncio.sleep(0.3)  # a tick or two: the panic gauge is set by the decision

    text = await scrape(scaler.settings.scaler_metrics_port)
    seconds = {}
    for phase in ("create", "start", "launch", "first-ready", "total"):
        count = f'hydro_scaler_replica_start_seconds_count{{backend="docker",phase="{phase}"}} 1.0'
        assert count in text, f"no {phase} observation in\n{text}"
        seconds[phase] = sample(
            text, f'hydro_scaler_replica_start_seconds_sum{{backend="docker",phase="{phase}"}}'
        )
    assert 'phase="pull"' not in text, "the image was on the host: no pull phase"
    assert seconds["create"] + seconds["start"] <= seconds["launch"] + 1e-6
    assert abs(seconds["launch"] + seconds["first-ready"] - seconds["total"]) < 1e-6
    assert f'hydro_scaler_replicas{{state="ready",version="{KEY}"}} 1.0' in text
    assert f'hydro_scaler_replicas{{state="starting",version="{KEY}"}} 0.0' in text
    assert f'hydro_scaler_replicas{{state="desired",version="{KEY}"}} 1.0' in text
    assert f'hydro_scaler_panic_mode{{version="{KEY}"}} 0.0' in text
    print(
        "docker cold start phases (image on host): " + ", ".join(f"{k} {v:.3f} s" for k, v in seconds.items())
    )


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting until {what}"
        await asyncio.sleep(0.1)


async def scrape(port: int) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    response.raise_for_status()
    return response.text


def sample(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


def has_image(client: docker.DockerClient, image: str) -> bool:
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    return True


async def until_no_containers(client: docker.DockerClient, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while containers(client):
        assert time.monotonic() < deadline, (
            f"containers still there: {[c.id[:12] for c in containers(client)]}"
        )
        await asyncio.sleep(0.1)


async def eventually_gone(client: docker.DockerClient, container_id: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.containers.get(container_id)
        except docker.errors.NotFound:
            return
        assert time.monotonic() < deadline, f"container {container_id[:12]} still exists"
        await asyncio.sleep(0.1)
