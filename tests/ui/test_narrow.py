"""Pages at 390 px (a phone): no sideways scroll of the page, and accessible (axe-core).

The pages not listed fail this today (models, a version, a deployment config, tokens, audit log: the page
scrolls sideways, or a scrolling table cannot be reached with the keyboard); list each once it passes."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.ui.browser import assert_accessible
from tests.ui.conftest import Deployed

pytestmark = [pytest.mark.slow]


@pytest.fixture
def context(admin_context: BrowserContext) -> BrowserContext:
    return admin_context


PAGES = {
    "the overview": "",
    "an application": "/applications/{split_app}",
    "its invoke keys": "/applications/{split_app}/invoke-keys",
    "a model": "/models/{split_model}",
    "the deployment configs": "/deployment-configs",
}


@pytest.mark.parametrize("what", PAGES)
def test_the_page_works_at_390_px(deployed: Deployed, page: Page, what: str) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(
        deployed.ui + PAGES[what].format(split_app=deployed.split_app, split_model=deployed.split_model)
    )
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"at 390 px {what} is {width} px wide (it scrolls sideways)"
    assert_accessible(page, f"{what} at 390 px")
