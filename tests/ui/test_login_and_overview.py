"""A user logs in with an API token, finds the deployed example with its invoke URL, and logs out."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.platform import ADMIN_TOKEN
from tests.ui.browser import assert_accessible, log_in, screenshot
from tests.ui.conftest import Deployed

pytestmark = [pytest.mark.slow]


def test_the_ui_asks_for_a_token_and_refuses_a_wrong_one_in_words(deployed: Deployed, page: Page) -> None:
    page.goto(deployed.platform.env["HYDRO_CONTROL_PLANE_URL"] + "/")
    assert "/ui/login" in page.url
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("token")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


def test_a_user_logs_in_and_finds_the_deployed_example_with_its_invoke_url(
    deployed: Deployed, page: Page, screens: Path
) -> None:
    log_in(page, deployed.ui, ADMIN_TOKEN)
    invoke_url = deployed.platform.application(deployed.example_app)["invoke_urls"]["http"]
    assert invoke_url == f"{deployed.platform.router}/apps/{deployed.example_app}"

    row = page.locator(f"tr[data-application='{deployed.example_app}']")
    expect(row).to_contain_text(invoke_url)
    expect(row.get_by_role("link", name=deployed.example_app)).to_be_visible()
    screenshot(page, "overview", screens)
    assert_accessible(page, "the overview")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(row).to_contain_text(invoke_url)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"at 390 px the page is {width} px wide (it scrolls sideways)"
    screenshot(page, "overview-390", screens)
    assert_accessible(page, "the overview at 390 px")


def test_logout_ends_the_session(deployed: Deployed, context: BrowserContext, page: Page) -> None:
    log_in(page, deployed.ui, ADMIN_TOKEN)
    expect(page.locator(f"tr[data-application='{deployed.example_app}']")).to_be_visible()
    (cookie,) = [c for c in context.cookies() if c["httpOnly"]]
    assert cookie["sameSite"] == "Strict" and cookie["expires"] > 0, cookie

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    page.go_back()  # the overview again, from the history: it asks to log in (at the latest on its next poll)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible(timeout=10_000)
    page.goto(deployed.ui)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    old = httpx.get(deployed.ui, headers={"Cookie": f"{cookie['name']}={cookie['value']}"})
    assert old.status_code == 303 and "/ui/login" in old.headers["location"], (old.status_code, old.headers)


def tab_to(page: Page, name: str, limit: int = 25) -> None:
    """Press Tab until the focused control's accessible name (label, or text) is `name`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
                const el = document.activeElement;
                return (el.labels && el.labels.length ? el.labels[0].innerText : el.innerText || "").trim();
            }"""
        )
        if focused == name:
            return
    pytest.fail(f"{limit} presses of Tab never reached {name!r} on {page.url}")


def test_a_user_logs_in_and_moves_around_with_the_keyboard_alone(deployed: Deployed, page: Page) -> None:
    page.goto(deployed.ui)
    tab_to(page, "API token")
    page.keyboard.type(ADMIN_TOKEN)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    tab_to(page, "Models")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Models")).to_be_visible()
    tab_to(page, deployed.split_model)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"Model {deployed.split_model}")).to_be_visible()


def test_the_login_page_is_accessible(deployed: Deployed, page: Page, screens: Path) -> None:
    page.goto(deployed.ui)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    screenshot(page, "login", screens)
    assert_accessible(page, "the login page")
