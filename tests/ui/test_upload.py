"""A deployer uploads a new version as a .tar.gz from the models page, follows its build, points an
application at it, and the application answers with it."""

from __future__ import annotations

import tarfile
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.stories import wait_routed, write_model
from tests.ui.conftest import WHICH, WHICH_SIGNATURE, Deployed

pytestmark = [pytest.mark.slow]


@pytest.fixture
def context(admin_context: BrowserContext) -> BrowserContext:
    """Every story here starts logged in as the admin."""
    return admin_context


def packed(folder: Path, dest: Path) -> Path:
    """The model folder as `tar -czf model.tar.gz -C FOLDER .` makes it."""
    archive = dest / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for child in sorted(folder.iterdir()):
            tar.add(child, arcname=child.name)
    return archive


def test_an_uploaded_version_is_built_and_an_application_pointed_at_it_answers_with_it(
    deployed: Deployed, page: Page, tmp_path: Path
) -> None:
    model = deployed.split_model
    folder = write_model(tmp_path, model, WHICH.format(version=3), "which:which", WHICH_SIGNATURE)
    app = f"pointed-{model[-6:]}"

    page.goto(deployed.ui)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    page.get_by_label("Model name").fill(model)
    page.get_by_label("The model folder as a .tar.gz").set_input_files(str(packed(folder, tmp_path)))
    page.get_by_role("button", name="Upload").click()
    uploaded = page.get_by_role("status")
    expect(uploaded).to_contain_text(f"Uploaded {model} version 3")
    uploaded.get_by_role("link", name="Follow its build").click()

    expect(page.get_by_role("heading", name=f"Model {model} version 3")).to_be_visible()
    expect(page.locator("#build-log-state")).to_contain_text("The build has ended: released", timeout=30_000)
    expect(page.get_by_role("region", name="Build log")).to_contain_text("HYDRO_RUNTIME=process")
    page.reload()  # the status and the form to point an application show once the page is loaded again
    expect(page.locator("#version-status")).to_have_text("released")
    page.get_by_label("Application (new or existing").fill(app)
    page.get_by_role("button", name="Point it here").click()

    expect(page.get_by_role("heading", name=f"Application {app}")).to_be_visible()
    wait_routed(deployed.platform, app)
    answer = httpx.post(f"{deployed.platform.router}/apps/{app}", json={"x": [1.0, 2.0]}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == [3, 3]


def test_a_package_that_is_not_a_model_shows_the_apis_message(
    deployed: Deployed, page: Page, tmp_path: Path
) -> None:
    not_gzip = tmp_path / "model.tar.gz"
    not_gzip.write_bytes(b"this is not a gzip file")
    refused = httpx.post(
        f"{deployed.platform.api}/models/{deployed.split_model}/versions",
        content=not_gzip.read_bytes(),
        headers={**deployed.platform.headers(), "Content-Type": "application/gzip"},
    )
    assert refused.status_code == 400, refused.text

    page.goto(deployed.ui)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    page.get_by_label("Model name").fill(deployed.split_model)
    page.get_by_label("The model folder as a .tar.gz").set_input_files(str(not_gzip))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_role("alert")).to_contain_text(refused.json()["error"])
