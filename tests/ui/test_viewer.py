"""A viewer is offered no write, and a forged write is refused (403) and changes nothing."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.platform import ADMIN_TOKEN
from tests.ui.browser import assert_accessible, log_in
from tests.ui.conftest import Deployed

pytestmark = [pytest.mark.slow]

FORGE = """async ([url, body]) => {
    const form = new URLSearchParams(body);
    const answer = await fetch(url, {method: "POST", body: form, credentials: "same-origin"});
    return answer.status;
}"""


def csrf_of(page: Page) -> str:
    """The session's CSRF token, as the page carries it for its own forms."""
    token = page.locator("input[name='csrf_token']").first.get_attribute("value")
    assert token, "the page carries no CSRF token"
    return token


def split_weights(deployed: Deployed) -> list[int]:
    return [v["weight"] for v in deployed.platform.application(deployed.split_app)["stages"][0]["variants"]]


def test_a_viewer_sees_no_write_controls_and_a_forged_write_is_refused(
    deployed: Deployed, page: Page
) -> None:
    before = split_weights(deployed)
    log_in(page, deployed.ui, deployed.viewer_token)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Tokens")).to_have_count(0)
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)

    page.get_by_role("link", name=deployed.split_app).click()
    expect(page.get_by_role("heading", name=f"Application {deployed.split_app}")).to_be_visible()
    expect(page.locator("#read-only")).to_contain_text("viewer")
    editable = [box for box in page.get_by_role("textbox").all() if box.is_editable()]
    assert editable == [], "a viewer is offered a field to change"
    expect(page.get_by_role("button", name="Apply")).to_have_count(0)
    writes = page.locator("button:not([data-copy])")  # copying the split as JSON or HCL writes nothing
    assert [b.inner_text() for b in writes.all()] == ["Log out"]
    assert_accessible(page, "the application page as a viewer")

    split = f"{deployed.ui}/applications/{deployed.split_app}/split"
    fields = {"weight-0-0": "50", "weight-0-1": "50"}
    no_csrf = page.evaluate(FORGE, [split, fields])
    assert no_csrf == 403
    with_csrf = page.evaluate(FORGE, [split, {**fields, "csrf_token": csrf_of(page)}])
    assert with_csrf == 403, "a viewer's own CSRF token must not make a write allowed"
    assert split_weights(deployed) == before


def test_a_forged_write_without_the_csrf_token_is_refused_even_for_an_admin(
    deployed: Deployed, page: Page
) -> None:
    before = split_weights(deployed)
    log_in(page, deployed.ui, ADMIN_TOKEN)
    split = f"{deployed.ui}/applications/{deployed.split_app}/split"
    assert page.evaluate(FORGE, [split, {"weight-0-0": "50", "weight-0-1": "50"}]) == 403
    assert (
        page.evaluate(FORGE, [split, {"weight-0-0": "50", "weight-0-1": "50", "csrf_token": "forged"}]) == 403
    )
    assert split_weights(deployed) == before


def test_a_viewer_is_offered_no_write_on_any_page(deployed: Deployed, page: Page) -> None:
    log_in(page, deployed.ui, deployed.viewer_token)
    for path in (
        "",
        f"/applications/{deployed.split_app}/invoke-keys",
        "/models",
        f"/models/{deployed.split_model}/versions/1",
        "/deployment-configs",
        "/deployment-configs/default",
    ):
        page.goto(deployed.ui + path)
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        forms = [form.get_attribute("action") for form in page.locator("form").all()]
        assert forms == ["/ui/logout"], f"a viewer is offered {forms} on {path or 'the overview'}"
        editable = [box for box in page.get_by_role("textbox").all() if box.is_editable()]
        assert editable == [], f"a viewer is offered a field to change on {path or 'the overview'}"
