"""A version's monitoring on its page: the drift schedule set through the API, and no reports yet."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.ui.browser import assert_accessible, screenshot
from tests.ui.conftest import Deployed

pytestmark = [pytest.mark.slow]


@pytest.fixture
def context(admin_context: BrowserContext) -> BrowserContext:
    return admin_context


def test_a_versions_page_shows_its_drift_schedule(deployed: Deployed, page: Page, screens: Path) -> None:
    model = deployed.example_model
    scheduled = httpx.put(
        f"{deployed.platform.api}/models/{model}/versions/1/monitoring",
        json={"cron": "0 * * * *", "window": "1h"},
        headers=deployed.platform.headers(),
    )
    assert scheduled.status_code == 200, scheduled.text

    page.goto(deployed.ui)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    page.get_by_role("link", name=model, exact=True).click()
    page.get_by_role("link", name="v1", exact=True).click()
    expect(page.get_by_role("heading", name="Monitoring")).to_be_visible()
    expect(page.locator("#schedule")).to_contain_text(
        "Drift reports run on 0 * * * * (UTC) over windows of 1h"
    )
    expect(page.locator("#no-reports")).to_have_text("No drift reports yet.")
    expect(page.get_by_role("table", name="Signature")).to_contain_text("country")
    screenshot(page, "version-monitoring", screens)
    assert_accessible(page, "a monitored version's page")
