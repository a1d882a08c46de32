"""Deleting a version a user no longer serves, on both runtimes: refused while an application uses it;
once the application moved to another version, the deletion removes its rows, package, image (registry
and Docker host) and replicas, and the remaining version still cold-starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import docker
import docker.errors
import httpx
import pytest

from control_plane.registry import MANIFEST_TYPES
from servicekit.object_keys import package_key
from tests.e2e.platform import Platform
from tests.e2e.stories import copy_example, put_application, upload, wait_released, wait_until
from tests.e2e.test_embedded_story import FRAUD_INPUT, runtime_processes
from tests.real_parts import REGISTRY


def containers(version_key: str) -> list[str]:
    client = docker.from_env()
    try:
        found = client.containers.list(
            all=True, filters={"label": f"hydro.version={version_key}"}, ignore_removed=True
        )
        return [c.id for c in found]
    finally:
        client.close()


def on_this_host(image: str) -> bool:
    client = docker.from_env()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return False
    finally:
        client.close()
    return True


def delete(platform: Platform, key: str) -> httpx.Response:
    model, number = key.split(":")
    return httpx.delete(
        f"{platform.api}/models/{model}/versions/{number}", headers=platform.headers(), timeout=120
    )


def two_versions_and_an_app_on_the_first(platform: Platform, tmp_path: Path) -> tuple[str, str, str]:
    """`hydro deploy` of the fraud example (version 1, application on it) and an upload of version 2."""
    platform.put_deployment_config("deletion", scale_to_zero_grace_s=60.0)
    folder, model = copy_example("fraud-detector", tmp_path)
    app = f"{model}-app"
    deployed = platform.hydro("deploy", str(folder), "--app", app, "--deployment-config", "deletion")
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout + platform.logs()
    second = upload(platform, folder)
    wait_released(platform, second)
    return app, f"{model}:1", second


def refused_then_deleted(platform: Platform, app: str, first: str, second: str) -> dict[str, Any]:
    answer = platform.invoke(app, FRAUD_INPUT)
    assert answer.status_code == 200, answer.text + platform.logs()

    refused = delete(platform, first)
    assert refused.status_code == 409, refused.text
    assert f"application '{app}'" in refused.json()["error"]

    put_application(platform, app, [[(second, 100, "deletion")]])
    deleted = delete(platform, first)
    assert deleted.status_code == 200, deleted.text
    body: dict[str, Any] = deleted.json()
    assert body["removed"]["versions"] == [first] and body["failed"] == [], body
    model, number = first.split(":")
    assert not (platform.home / "objects" / package_key(model, int(number))).exists()
    again = delete(platform, first)
    assert again.status_code == 404, again.text
    return body


@pytest.mark.docker
@pytest.mark.postgres
@pytest.mark.slow
def test_on_docker_deletion_removes_rows_package_image_and_containers(
    docker_platform: Platform, tmp_path: Path
) -> None:
    platform = docker_platform
    app, first, second = two_versions_and_an_app_on_the_first(platform, tmp_path)
    image = f"{REGISTRY}/{first}"
    assert on_this_host(image)
    body = refused_then_deleted(platform, app, first, second)

    assert body["removed"]["images"] == [image], body
    model, tag = first.split(":")
    manifest = httpx.head(f"http://{REGISTRY}/v2/{model}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
    assert manifest.status_code == 404, "the registry still has the deleted version's manifest"
    assert not on_this_host(image)
    wait_until(lambda: containers(first) == [], 60, f"{first}'s container is stopped and removed")

    answer = platform.invoke(app, FRAUD_INPUT, timeout=120)
    assert answer.status_code == 200, answer.text + platform.logs()
    assert len(containers(second)) == 1

    # Only a dry run: the registry is shared with other tests, whose images this catalog does not know.
    looked = platform.hydro("gc", "--dry-run")
    assert looked.returncode == 0, looked.stderr
    assert "would delete" in looked.stdout and "garbage-collect" in looked.stdout
    assert f"{REGISTRY}/{second}\n" not in looked.stdout and f"{REGISTRY}/{first}\n" not in looked.stdout


@pytest.mark.slow
def test_on_the_embedded_platform_deletion_removes_rows_package_and_processes(
    embedded_platform: Platform, tmp_path: Path
) -> None:
    platform = embedded_platform
    app, first, second = two_versions_and_an_app_on_the_first(platform, tmp_path)
    body = refused_then_deleted(platform, app, first, second)
    assert body["removed"]["images"] == []
    wait_until(lambda: runtime_processes(platform.home) == [], 60, f"{first}'s runtime process is stopped")

    answer = platform.invoke(app, FRAUD_INPUT)
    assert answer.status_code == 200, answer.text + platform.logs()
    assert len(runtime_processes(platform.home)) == 1
