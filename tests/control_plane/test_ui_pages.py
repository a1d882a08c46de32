"""The web UI's pages as a user meets them, against a real control plane on PostgreSQL and on SQLite:
every page answers with the catalog's data; the split editor shows the change, applies it through the API,
and shows the API's own message for a bad weight; a viewer is offered no write and a forged one is refused;
errors are shown in words."""

from __future__ import annotations

import html
import re

from tests.control_plane.conftest import ControlPlane, unique
from tests.control_plane.packages import package
from tests.control_plane.ui_helpers import (
    browser,
    canary_application,
    csrf,
    log_in,
    token,
)


async def test_the_overview_lists_applications_with_invoke_urls_and_replicas(
    control_plane_alone: ControlPlane,
) -> None:
    control_plane = control_plane_alone
    app, model = await canary_application(control_plane)
    async with browser(control_plane) as client:
        await log_in(client)
        page = await client.get("/ui")
        assert page.status_code == 200
        assert f'<a href="/ui/applications/{app}">{app}</a>' in page.text
        assert f"http://127.0.0.1:18081/apps/{app}" in page.text
        assert page.text.count(f"{model} v") == 2
        # the scaler is down in this test: the page says so instead of showing zeros
        assert "replicas unknown (the scaler did not answer)" in page.text
        assert "not measured by the control plane yet" in page.text
        rows = await client.get("/ui/fragments/applications", headers={"HX-Request": "true"})
        assert rows.status_code == 200 and f'data-application="{app}"' in rows.text
        assert "<html" not in rows.text  # a fragment, not a page


async def test_the_application_page_draws_the_pipeline_and_its_code(control_plane: ControlPlane) -> None:
    app, model = await canary_application(control_plane)
    async with browser(control_plane) as client:
        await log_in(client)
        page = await client.get(f"/ui/applications/{app}")
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert "weight 90 (90 %)" in text and "weight 10 (10 %)" in text
        assert f'resource "hydro_application" "{app.replace("-", "_")}"' in text
        assert '"weight": 90' in text
        assert '<label for="weight-0-0">' in page.text and 'id="split-apply"' in page.text
        pipeline = await client.get(f"/ui/applications/{app}/pipeline", headers={"HX-Request": "true"})
        assert pipeline.status_code == 200 and f'data-variant="{model}:1"' in pipeline.text


async def test_a_split_change_is_previewed_then_applied_through_the_api(control_plane: ControlPlane) -> None:
    app, _ = await canary_application(control_plane)
    async with browser(control_plane) as client:
        await log_in(client)
        headers = {"HX-Request": "true", "X-CSRF-Token": await csrf(client)}
        form = {"weight-0-0": "50", "weight-0-1": "50"}
        preview = await client.post(f"/ui/applications/{app}/split/preview", data=form, headers=headers)
        assert preview.status_code == 200
        assert preview.text.count("<strong>changed</strong>") == 2
        assert "90 (90 %)" in preview.text and "50 (50 %)" in preview.text
        unchanged = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
        assert [v["weight"] for v in unchanged["stages"][0]["variants"]] == [90, 10]

        applied = await client.post(f"/ui/applications/{app}/split", data=form, headers=headers)
        assert applied.status_code == 200, applied.text
        assert 'id="split-applied"' in applied.text
        stored = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
        assert [v["weight"] for v in stored["stages"][0]["variants"]] == [50, 50]
        audit = (await control_plane.client.get("/api/v1/audit")).json()["events"]
        assert any(e["path"] == f"/api/v1/applications/{app}" and e["status"] == 200 for e in audit)


async def test_a_bad_weight_shows_the_apis_message(control_plane: ControlPlane) -> None:
    app, _ = await canary_application(control_plane)
    async with browser(control_plane) as client:
        await log_in(client)
        headers = {"HX-Request": "true", "X-CSRF-Token": await csrf(client)}
        negative = await client.post(
            f"/ui/applications/{app}/split", data={"weight-0-0": "-5"}, headers=headers
        )
        assert negative.status_code == 400
        api = await control_plane.client.put(
            f"/api/v1/applications/{app}",
            json={"stages": [{"variants": [{"model": "m", "version": 1, "weight": -5}]}]},
        )
        assert api.status_code == 400
        assert "greater than or equal to 0" in api.json()["error"]
        assert "greater than or equal to 0" in html.unescape(negative.text)
        zero = await client.post(
            f"/ui/applications/{app}/split", data={"weight-0-0": "0", "weight-0-1": "0"}, headers=headers
        )
        assert zero.status_code == 400
        assert "the variants' weights add up to 0" in html.unescape(zero.text)
        words = await client.post(
            f"/ui/applications/{app}/split", data={"weight-0-0": "ten"}, headers=headers
        )
        assert words.status_code == 400 and "Error 400:" in words.text
        stored = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
        assert [v["weight"] for v in stored["stages"][0]["variants"]] == [90, 10]


async def test_a_viewer_is_offered_no_write_and_a_forged_one_is_refused(control_plane: ControlPlane) -> None:
    app, _ = await canary_application(control_plane)
    viewer = await token(control_plane, "viewer")
    async with browser(control_plane) as client:
        await log_in(client, viewer)
        page = await client.get(f"/ui/applications/{app}")
        assert page.status_code == 200
        assert "split-editor" not in page.text and "split-apply" not in page.text
        assert 'id="read-only"' in page.text
        assert "/ui/tokens" not in page.text and "/ui/audit" not in page.text
        headers = {"HX-Request": "true", "X-CSRF-Token": await csrf(client)}
        forged = await client.post(
            f"/ui/applications/{app}/split", data={"weight-0-0": "50", "weight-0-1": "50"}, headers=headers
        )
        assert forged.status_code == 403
        assert "needs the deployer role" in html.unescape(forged.text)
        tokens = await client.get("/ui/tokens")
        assert tokens.status_code == 403 and "needs the admin role" in html.unescape(tokens.text)
        made = await client.post(
            "/ui/tokens", data={"csrf_token": headers["X-CSRF-Token"], "name": "x", "role": "admin"}
        )
        assert made.status_code == 403
    stored = (await control_plane.client.get(f"/api/v1/applications/{app}")).json()
    assert [v["weight"] for v in stored["stages"][0]["variants"]] == [90, 10]


async def test_models_versions_and_the_build_log(control_plane: ControlPlane) -> None:
    app, model = await canary_application(control_plane)
    async with browser(control_plane) as client:
        await log_in(client)
        models = await client.get("/ui/models")
        assert models.status_code == 200 and f'data-model="{model}"' in models.text
        versions = await client.get(f"/ui/models/{model}")
        assert versions.status_code == 200 and 'data-version="2"' in versions.text
        version = await client.get(f"/ui/models/{model}/versions/2")
        assert version.status_code == 200
        assert 'id="version-status">released<' in version.text
        assert "<code>x</code>" in version.text and "FP64" in version.text  # the signature
        assert "The build has ended: released." in version.text
        assert "hx-trigger" not in version.text.split('id="build-log"')[1].split(">")[0]  # no more polling
        log = await client.get(f"/ui/models/{model}/versions/2/log", headers={"HX-Request": "true"})
        assert log.status_code == 200 and 'id="build-log"' in log.text
        missing = await client.get(f"/ui/models/{model}/versions/99")
        assert missing.status_code == 404
        assert "Error 404:" in missing.text and "99" in missing.text


async def test_a_build_log_polls_while_the_version_builds(control_plane: ControlPlane) -> None:
    model = unique("ui-building")
    upload = await control_plane.upload(model, package(model))
    assert upload.status_code == 202
    async with browser(control_plane) as client:
        await log_in(client)
        first = await client.get(f"/ui/models/{model}/versions/1")
        assert first.status_code == 200
        status = re.search(r'id="version-status">(\w+)<', first.text)
        assert status is not None
        if status.group(1) in ("pending", "building"):
            assert f'hx-get="/ui/models/{model}/versions/1/log" hx-trigger="every 2s"' in first.text
        await control_plane.wait_built(model, 1)
        done = await client.get(f"/ui/models/{model}/versions/1/log", headers={"HX-Request": "true"})
        assert "hx-trigger" not in done.text and "The build has ended" in done.text


async def test_deployment_configs_tokens_and_audit(control_plane: ControlPlane) -> None:
    name = unique("ui-made")
    async with browser(control_plane) as client:
        await log_in(client)
        configs = await client.get("/ui/deployment-configs")
        assert configs.status_code == 200 and 'data-config="default"' in configs.text
        assert "container concurrency" in configs.text
        secret = await csrf(client)
        created = await client.post("/ui/tokens", data={"csrf_token": secret, "name": name, "role": "viewer"})
        assert created.status_code == 201
        shown = re.search(r'id="new-token" type="text" readonly value="([^"]+)"', created.text)
        assert shown is not None
        usable = await control_plane.client.get(
            "/api/v1/models", headers={"Authorization": f"Bearer {shown.group(1)}"}
        )
        assert usable.status_code == 200
        again = await client.post("/ui/tokens", data={"csrf_token": secret, "name": name, "role": "viewer"})
        assert again.status_code == 409 and "exists already" in html.unescape(again.text)
        revoked = await client.post(f"/ui/tokens/{name}/revoke", data={"csrf_token": secret})
        assert revoked.status_code == 303 and revoked.headers["location"] == "/ui/tokens"
        tokens = await client.get("/ui/tokens")
        assert f'data-token="{name}"' not in tokens.text
        audit = await client.get("/ui/audit", params={"limit": "2"})
        assert audit.status_code == 200
        assert f"DELETE /api/v1/tokens/{name}" in audit.text
        assert 'id="audit-older"' in audit.text


async def test_assets_are_local_and_unknown_pages_say_so(control_plane: ControlPlane) -> None:
    async with browser(control_plane) as client:
        htmx = await client.get("/ui/static/vendor/htmx.min.js")
        assert htmx.status_code == 200 and len(htmx.content) > 10_000
        licence = await client.get("/ui/static/vendor/htmx.LICENSE")
        assert licence.status_code == 200 and "Zero-Clause BSD" in licence.text
        css = await client.get("/ui/static/hydro.css")
        assert css.status_code == 200
        await log_in(client)
        page = await client.get("/ui")
        assert "https://" not in page.text.split("</head>")[0]  # no CDN
        policy = page.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
        unknown = await client.get("/ui/nowhere")
        assert unknown.status_code == 404 and "there is no page at /ui/nowhere" in unknown.text
        gone = await client.get("/ui/applications/no-such-app")
        assert gone.status_code == 404 and "no-such-app" in gone.text


async def test_the_overview_pages_a_long_catalog(control_plane_alone: ControlPlane) -> None:
    control_plane = control_plane_alone
    model = unique("ui-many")
    version = await control_plane.release(model, package(model))
    body = {"stages": [{"variants": [{"model": model, "version": version}]}]}
    prefix = unique("many")
    for n in range(51):
        response = await control_plane.client.put(f"/api/v1/applications/{prefix}-{n:02d}", json=body)
        assert response.status_code == 200, response.text
    total = len((await control_plane.client.get("/api/v1/applications")).json()["applications"])
    async with browser(control_plane) as client:
        await log_in(client)
        first = await client.get("/ui")
        assert first.text.count("data-application=") == 50
        assert f"Page 1 of 2 ({total} applications)" in first.text and 'id="page-next"' in first.text
        assert 'hx-get="/ui/fragments/applications?page=1"' in first.text
        second = await client.get("/ui/fragments/applications", params={"page": "2"})
        assert second.text.count("data-application=") == total - 50 and 'id="page-previous"' in second.text
        beyond = await client.get("/ui", params={"page": "99"})
        assert "Page 2 of 2" in beyond.text
        nonsense = await client.get("/ui", params={"page": "-1"})
        assert "Page 1 of 2" in nonsense.text
