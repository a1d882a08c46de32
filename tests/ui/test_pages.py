"""Every page, reached by its links as a user would: accessible (axe-core) and photographed at 1280 px."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.ui.browser import assert_accessible, screenshot
from tests.ui.conftest import Deployed

pytestmark = [pytest.mark.slow]


@pytest.fixture
def context(admin_context: BrowserContext) -> BrowserContext:
    """Every story here starts logged in as the admin."""
    return admin_context


def open_from_nav(page: Page, deployed: Deployed, link: str) -> None:
    page.goto(deployed.ui)
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()


def test_the_models_a_model_and_a_version_pages_are_accessible(
    deployed: Deployed, page: Page, screens: Path
) -> None:
    open_from_nav(page, deployed, "Models")
    expect(page.get_by_role("heading", name="Models")).to_be_visible()
    screenshot(page, "models", screens)
    assert_accessible(page, "the models page")

    page.get_by_role("link", name=deployed.split_model, exact=True).click()
    expect(page.get_by_role("heading", name=f"Model {deployed.split_model}")).to_be_visible()
    expect(page.get_by_role("table", name=f"Versions of {deployed.split_model}")).to_contain_text("released")
    screenshot(page, "model", screens)
    assert_accessible(page, "a model's page")

    page.get_by_role("link", name="v2", exact=True).click()
    expect(page.get_by_role("heading", name=f"Model {deployed.split_model} version 2")).to_be_visible()
    screenshot(page, "version", screens)
    assert_accessible(page, "a version's page")


def test_the_deployment_configs_page_is_accessible(deployed: Deployed, page: Page, screens: Path) -> None:
    open_from_nav(page, deployed, "Deployment configs")
    expect(page.get_by_role("heading", name="Deployment configs")).to_be_visible()
    expect(page.get_by_role("rowheader", name="default", exact=True)).to_be_visible()
    screenshot(page, "deployment-configs", screens)
    assert_accessible(page, "the deployment configs page")


def test_the_tokens_page_is_accessible(deployed: Deployed, page: Page, screens: Path) -> None:
    open_from_nav(page, deployed, "Tokens")
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    expect(page.get_by_text("ui-viewer").first).to_be_visible()
    screenshot(page, "tokens", screens)
    assert_accessible(page, "the tokens page")


def test_the_audit_log_is_accessible(deployed: Deployed, page: Page, screens: Path) -> None:
    open_from_nav(page, deployed, "Audit log")
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.get_by_role("table", name="Audit events")).to_contain_text(
        f"/applications/{deployed.split_app}"
    )
    screenshot(page, "audit", screens)
    assert_accessible(page, "the audit log page")
