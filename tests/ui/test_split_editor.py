"""A deployer changes a 90/10 split to 50/50 in the split editor, and the router serves the new split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.stories import put_application, wait_until
from tests.ui.browser import assert_accessible, screenshot
from tests.ui.conftest import Deployed
from tests.ui.split import CALLS, count_answers

pytestmark = [pytest.mark.slow]


@pytest.fixture
def context(admin_context: BrowserContext) -> BrowserContext:
    """Every story here starts logged in as the admin."""
    return admin_context


def weights(deployed: Deployed) -> list[int]:
    return [v["weight"] for v in deployed.platform.application(deployed.split_app)["stages"][0]["variants"]]


def set_weights(deployed: Deployed, first: int, second: int) -> None:
    model = deployed.split_model
    put_application(
        deployed.platform,
        deployed.split_app,
        [[(f"{model}:1", first, "default"), (f"{model}:2", second, "default")]],
    )


def open_split_editor(page: Page, deployed: Deployed) -> None:
    page.goto(deployed.ui)
    page.get_by_role("link", name=deployed.split_app).click()
    expect(page.get_by_role("heading", name=f"Application {deployed.split_app}")).to_be_visible()


def weight_field(page: Page, deployed: Deployed, version: int) -> Any:
    return page.get_by_label(f"Weight of {deployed.split_model} v{version}")


def test_changing_90_10_to_50_50_in_the_editor_makes_the_router_serve_50_50(
    deployed: Deployed, page: Page, screens: Path
) -> None:
    set_weights(deployed, 90, 10)
    wait_until(lambda: deployed.platform.application(deployed.split_app)["routable"], 30, "90/10 is routed")
    before = count_answers(deployed.platform, deployed.split_app)
    assert before[2] < 30, f"90/10 should send about 12 of {CALLS} calls to version 2: {before}"

    open_split_editor(page, deployed)
    expect(weight_field(page, deployed, 1)).to_have_value("90")
    expect(weight_field(page, deployed, 2)).to_have_value("10")
    weight_field(page, deployed, 1).fill("50")
    weight_field(page, deployed, 2).fill("50")
    page.get_by_role("button", name="Show the change").click()
    diff = page.get_by_role("table", name="Weights before and after")
    expect(diff).to_contain_text("90")
    expect(diff).to_contain_text("50")
    assert weights(deployed) == [90, 10], "showing the change must not apply it"

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.locator("#split-result").get_by_role("button", name="Copy the JSON").click()
    expect(page.locator("#split-result").get_by_role("button", name="Copied")).to_be_visible()
    copied = json.loads(page.evaluate("() => navigator.clipboard.readText()"))
    assert [(v["model"], v["version"], v["weight"]) for v in copied["stages"][0]["variants"]] == [
        (deployed.split_model, 1, 50),
        (deployed.split_model, 2, 50),
    ], copied
    screenshot(page, "application", screens)
    assert_accessible(page, "the application page with the change shown")

    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).to_contain_text("Applied")
    assert weights(deployed) == [50, 50]
    wait_until(lambda: deployed.platform.application(deployed.split_app)["routable"], 30, "50/50 is routed")

    after = count_answers(deployed.platform, deployed.split_app)
    assert 38 <= after[1] <= 82 and 38 <= after[2] <= 82, f"50/50 of {CALLS} calls, counted: {after}"


def test_a_bad_weight_shows_the_apis_message(deployed: Deployed, page: Page) -> None:
    set_weights(deployed, 90, 10)
    refused = httpx.put(
        f"{deployed.platform.api}/applications/{deployed.split_app}",
        json={
            "stages": [
                {
                    "variants": [
                        {"model": deployed.split_model, "version": 1, "weight": -5},
                        {"model": deployed.split_model, "version": 2, "weight": 10},
                    ]
                }
            ]
        },
        headers=deployed.platform.headers(),
    )
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]

    open_split_editor(page, deployed)
    weight_field(page, deployed, 1).fill("-5")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert weights(deployed) == [90, 10]
