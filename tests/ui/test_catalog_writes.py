"""An admin writes to the catalog from the UI, and what was written works outside the browser."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.stories import wait_routed
from tests.ui.browser import assert_accessible, log_in, screenshot
from tests.ui.conftest import Deployed

pytestmark = [pytest.mark.slow]


@pytest.fixture
def context(admin_context: BrowserContext) -> BrowserContext:
    """Every story here starts logged in as the admin."""
    return admin_context


def test_an_invoke_key_created_in_the_ui_opens_an_application_that_requires_one(
    deployed: Deployed, page: Page, screens: Path
) -> None:
    platform = deployed.platform
    app = f"keyed-{uuid.uuid4().hex[:6]}"
    declared = httpx.put(
        f"{platform.api}/applications/{app}",
        json={
            "stages": [{"variants": [{"model": deployed.split_model, "version": 1, "weight": 100}]}],
            "require_invoke_key": True,
        },
        headers=platform.headers(),
    )
    assert declared.status_code == 200, declared.text
    wait_routed(platform, app)
    assert platform.invoke(app, {"x": [1.0]}).status_code == 401

    page.goto(deployed.ui)
    page.get_by_role("link", name=app, exact=True).click()
    page.get_by_role("link", name=f"invoke keys of {app}").click()
    expect(page.get_by_role("heading", name=f"Invoke keys of {app}")).to_be_visible()
    page.get_by_role("button", name="Create an invoke key").click()
    secret = page.get_by_label("The new invoke key")
    expect(secret).not_to_have_value("")
    key = secret.input_value()
    screenshot(page, "invoke-keys", screens)
    assert_accessible(page, "the invoke keys page with a new key")

    answer = httpx.post(
        f"{platform.router}/apps/{app}", json={"x": [1.0]}, headers={"Authorization": f"Bearer {key}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == [1]

    page.goto(page.url)  # the page again: the key is shown only once, and listed by its first characters
    expect(page.get_by_label("The new invoke key")).to_have_count(0)
    keys = page.get_by_role("table", name="Invoke keys")
    expect(keys.locator("tbody tr")).to_have_count(1)
    expect(keys).to_contain_text(key[:6])


def test_a_deployment_config_created_in_the_ui_is_the_apis(
    deployed: Deployed, page: Page, screens: Path
) -> None:
    name = f"ui-{uuid.uuid4().hex[:6]}"
    page.goto(deployed.ui)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Deployment configs").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Knobs as JSON").fill('{"min_replicas": 1, "max_replicas": 4}')
    page.get_by_role("button", name="Create").click()

    stored = httpx.get(
        f"{deployed.platform.api}/deployment-configs/{name}", headers=deployed.platform.headers()
    )
    assert stored.status_code == 200, stored.text
    assert (stored.json()["min_replicas"], stored.json()["max_replicas"]) == (1, 4)

    page.goto(f"{deployed.ui}/deployment-configs/{name}")
    expect(page.get_by_role("heading", name=f"Deployment config {name}")).to_be_visible()
    screenshot(page, "deployment-config", screens)
    assert_accessible(page, "a deployment config's page")

    page.get_by_label("Knobs as the API's JSON").fill('{"max_replicas": "many"}')
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("alert")).to_contain_text("max_replicas")
    assert (
        httpx.get(
            f"{deployed.platform.api}/deployment-configs/{name}", headers=deployed.platform.headers()
        ).json()["max_replicas"]
        == 4
    )


def test_a_token_created_in_the_ui_logs_in_with_its_role(
    deployed: Deployed, browser: Browser, page: Page
) -> None:
    name = f"ui-deployer-{uuid.uuid4().hex[:6]}"
    page.goto(deployed.ui)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Role").select_option("deployer")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label(f"Secret of {name}").input_value()
    assert secret

    other = browser.new_context()
    try:
        theirs = other.new_page()
        log_in(theirs, deployed.ui, secret)
        expect(theirs.locator("#who")).to_contain_text(f"{name} (deployer)")
        expect(
            theirs.get_by_role("navigation", name="Main").get_by_role("link", name="Tokens")
        ).to_have_count(0)
    finally:
        other.close()


def test_the_overview_follows_a_change_without_a_reload(deployed: Deployed, page: Page) -> None:
    platform = deployed.platform
    app = f"live-{uuid.uuid4().hex[:6]}"
    page.goto(deployed.ui)
    page.evaluate("() => { window.sameDocument = true; }")
    expect(page.locator(f"tr[data-application='{app}']")).to_have_count(0)

    declared = httpx.put(
        f"{platform.api}/applications/{app}",
        json={"stages": [{"variants": [{"model": deployed.split_model, "version": 2, "weight": 100}]}]},
        headers=platform.headers(),
    )
    assert declared.status_code == 200, declared.text
    row = page.locator(f"tr[data-application='{app}']")
    expect(row).to_contain_text(f"{platform.router}/apps/{app}", timeout=10_000)
    assert page.evaluate("() => window.sameDocument === true"), "the overview reloaded the page"
