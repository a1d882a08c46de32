"""Invoke keys and deployment configs, managed from the web UI through the API, on PostgreSQL and SQLite:
what a deployer may do is offered and works; a viewer sees it and is offered nothing; errors in words."""

from __future__ import annotations

import html
import re

from tests.control_plane.conftest import ControlPlane, unique
from tests.control_plane.packages import package
from tests.control_plane.ui_helpers import browser, canary_application, csrf, log_in, token


async def test_a_deployer_creates_and_revokes_an_invoke_key(control_plane: ControlPlane) -> None:
    app, _ = await canary_application(control_plane)
    deployer = await token(control_plane, "deployer")
    async with browser(control_plane) as client:
        await log_in(client, deployer)
        secret = await csrf(client)
        empty = await client.get(f"/ui/applications/{app}/invoke-keys")
        assert empty.status_code == 200 and 'id="no-keys"' in empty.text and 'id="key-create"' in empty.text
        created = await client.post(f"/ui/applications/{app}/invoke-keys", data={"csrf_token": secret})
        assert created.status_code == 201
        shown = re.search(r'id="new-key" type="text" readonly value="([^"]+)"', created.text)
        assert shown is not None
        listed = (await control_plane.client.get(f"/api/v1/applications/{app}/invoke-keys")).json()
        (key,) = listed["invoke_keys"]
        assert shown.group(1).startswith(key["prefix"])
        revoked = await client.post(
            f"/ui/applications/{app}/invoke-keys/{key['id']}/revoke", data={"csrf_token": secret}
        )
        assert revoked.status_code == 303
        after = (await control_plane.client.get(f"/api/v1/applications/{app}/invoke-keys")).json()
        assert after["invoke_keys"] == []
        missing = await client.post(
            f"/ui/applications/{app}/invoke-keys/nope/revoke", data={"csrf_token": secret}
        )
        assert missing.status_code == 404 and "Error 404:" in missing.text


async def test_a_viewer_sees_keys_and_configs_without_controls(control_plane: ControlPlane) -> None:
    app, _ = await canary_application(control_plane)
    viewer = await token(control_plane, "viewer")
    async with browser(control_plane) as client:
        await log_in(client, viewer)
        keys = await client.get(f"/ui/applications/{app}/invoke-keys")
        assert keys.status_code == 200 and 'id="key-create"' not in keys.text
        configs = await client.get("/ui/deployment-configs")
        assert configs.status_code == 200 and 'id="config-new"' not in configs.text
        config = await client.get("/ui/deployment-configs/default")
        assert config.status_code == 200 and 'id="config-editor"' not in config.text
        secret = await csrf(client)
        forged = await client.post(
            "/ui/deployment-configs/default", data={"csrf_token": secret, "knobs": '{"max_replicas": 9}'}
        )
        assert forged.status_code == 403 and "needs the deployer role" in html.unescape(forged.text)
        forged_key = await client.post(f"/ui/applications/{app}/invoke-keys", data={"csrf_token": secret})
        assert forged_key.status_code == 403
    default = (await control_plane.client.get("/api/v1/deployment-configs/default")).json()
    assert default["max_replicas"] != 9


async def test_a_deployment_config_is_created_and_changed_with_the_apis_messages(
    control_plane: ControlPlane,
) -> None:
    name = unique("ui-config")
    async with browser(control_plane) as client:
        await log_in(client)
        secret = await csrf(client)
        created = await client.post(
            "/ui/deployment-configs",
            data={"csrf_token": secret, "name": name, "knobs": '{"min_replicas": 1, "max_replicas": 4}'},
        )
        assert created.status_code == 303 and created.headers["location"] == f"/ui/deployment-configs/{name}"
        page = await client.get(f"/ui/deployment-configs/{name}")
        assert page.status_code == 200 and '"max_replicas": 4' in html.unescape(page.text)
        changed = await client.post(
            f"/ui/deployment-configs/{name}", data={"csrf_token": secret, "knobs": '{"max_replicas": 6}'}
        )
        assert changed.status_code == 303
        stored = (await control_plane.client.get(f"/api/v1/deployment-configs/{name}")).json()
        assert stored["max_replicas"] == 6
        not_json = await client.post(
            f"/ui/deployment-configs/{name}", data={"csrf_token": secret, "knobs": "{max_replicas: 6"}
        )
        assert not_json.status_code == 400 and "the knobs are not valid JSON" in not_json.text
        bad = await client.post(
            f"/ui/deployment-configs/{name}", data={"csrf_token": secret, "knobs": '{"max_replicas": -1}'}
        )
        api = await control_plane.client.put(f"/api/v1/deployment-configs/{name}", json={"max_replicas": -1})
        assert bad.status_code == api.status_code == 400
        assert api.json()["error"] in html.unescape(bad.text)


async def test_a_version_is_uploaded_then_an_application_pointed_at_it(control_plane: ControlPlane) -> None:
    model, app = unique("ui-upload"), unique("ui-pointed")
    deployer = await token(control_plane, "deployer")
    async with browser(control_plane) as client:
        await log_in(client, deployer)
        models = await client.get("/ui/models")
        assert 'id="upload-form"' in models.text and '<label for="upload-file">' in models.text
        headers = {
            "HX-Request": "true",
            "X-CSRF-Token": await csrf(client),
            "Content-Type": "application/gzip",
        }
        uploaded = await client.post(f"/ui/models/{model}/versions", content=package(model), headers=headers)
        assert uploaded.status_code == 202, uploaded.text
        assert f'href="/ui/models/{model}/versions/1"' in uploaded.text
        await control_plane.wait_built(model, 1)
        version = await client.get(f"/ui/models/{model}/versions/1")
        assert 'id="point-form"' in version.text
        secret = await csrf(client)
        pointed = await client.post(
            f"/ui/models/{model}/versions/1/point", data={"csrf_token": secret, "application": app}
        )
        assert pointed.status_code == 303 and pointed.headers["location"] == f"/ui/applications/{app}"
        stored = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
        assert [(v["model"], v["version"], v["weight"]) for v in stored["stages"][0]["variants"]] == [
            (model, 1, 100)
        ]
        broken = await client.post(f"/ui/models/{model}/versions", content=b"not a tar.gz", headers=headers)
        assert broken.status_code == 400 and "Error 400:" in broken.text
        unconfigured = await client.post(
            f"/ui/models/{model}/versions/1/point",
            data={"csrf_token": secret, "application": app, "deployment_config": "nope"},
        )
        assert unconfigured.status_code == 400
        assert "deployment config 'nope' does not exist" in html.unescape(unconfigured.text)
        no_csrf = await client.post(
            f"/ui/models/{model}/versions",
            content=package(model),
            headers={"Content-Type": "application/gzip"},
        )
        assert no_csrf.status_code == 403
    viewer = await token(control_plane, "viewer")
    async with browser(control_plane) as client:
        await log_in(client, viewer)
        assert 'id="upload-form"' not in (await client.get("/ui/models")).text
        assert 'id="point-form"' not in (await client.get(f"/ui/models/{model}/versions/1")).text
        forged = await client.post(
            f"/ui/models/{model}/versions",
            content=package(model),
            headers={"X-CSRF-Token": await csrf(client), "Content-Type": "application/gzip"},
        )
        assert forged.status_code == 403 and "needs the deployer role" in html.unescape(forged.text)
