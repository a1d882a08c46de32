"""A real platform (control plane, scaler, router; process runtime) with the example deployed, and a browser.

The platform is started once for the UI stories: the fraud-detector example deployed as `hydro deploy` does,
and an application `split-...` whose one stage routes 90/10 between two versions of a model that answers its
own version number, so a change of weights is counted from the answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.e2e.platform import ADMIN_TOKEN, Platform, running_platform
from tests.e2e.stories import copy_example, put_application, upload, wait_released, wait_routed, write_model
from tests.ui.browser import chromium_path, log_in

WHICH = """
    \"\"\"Answers the version number it was uploaded as, once per input row.\"\"\"
    import numpy as np

    VERSION = {version}

    def which(inputs):
        return {{"version": np.full(inputs["x"].shape, VERSION, dtype=np.int64)}}
"""
WHICH_SIGNATURE = {
    "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}],
    "outputs": [{"name": "version", "datatype": "INT64", "shape": [-1]}],
}


@dataclass(frozen=True)
class Deployed:
    """What the stories find on the platform: the example's application and the 90/10 split's."""

    platform: Platform
    example_app: str
    example_model: str
    split_app: str
    split_model: str
    viewer_token: str

    @property
    def ui(self) -> str:
        return self.platform.env["HYDRO_CONTROL_PLANE_URL"] + "/ui"


@pytest.fixture(scope="session")
def ui_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    yield from running_platform(
        tmp_path_factory.mktemp("ui-platform"), HYDRO_RUNTIME="process", HYDRO_TOKEN=ADMIN_TOKEN
    )


@pytest.fixture(scope="session")
def deployed(ui_platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    platform = ui_platform
    dest = tmp_path_factory.mktemp("ui-models")
    folder, model = copy_example("fraud-detector", dest)
    example_app = f"fraud-{model[-6:]}"
    which_name = f"which-{model[-6:]}"
    first = upload(
        platform, write_model(dest, which_name, WHICH.format(version=1), "which:which", WHICH_SIGNATURE)
    )
    second = upload(
        platform, write_model(dest, which_name, WHICH.format(version=2), "which:which", WHICH_SIGNATURE)
    )
    result = platform.hydro("deploy", str(folder), "--app", example_app)
    assert result.returncode == 0, result.stderr + result.stdout + platform.logs()
    wait_released(platform, first, second)
    split_app = f"split-{model[-6:]}"
    put_application(platform, split_app, [[(first, 90, "default"), (second, 10, "default")]])
    wait_routed(platform, split_app)
    viewer = httpx.post(
        f"{platform.api}/tokens", json={"name": "ui-viewer", "role": "viewer"}, headers=platform.headers()
    )
    assert viewer.status_code == 201, viewer.text
    return Deployed(platform, example_app, model, split_app, which_name, viewer.json()["token"])


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) at 1280 x 800."""
    fresh = browser.new_context(viewport={"width": 1280, "height": 800})
    yield fresh
    fresh.close()


@pytest.fixture(scope="session")
def admin_state(browser: Browser, deployed: Deployed) -> Any:
    """The cookies of one admin login through the login page, for stories that are not about logging in."""
    fresh = browser.new_context()
    try:
        log_in(fresh.new_page(), deployed.ui, ADMIN_TOKEN)
        return fresh.storage_state()
    finally:
        fresh.close()


@pytest.fixture
def admin_context(browser: Browser, admin_state: Any) -> Iterator[BrowserContext]:
    """A browser profile at 1280 x 800 already logged in as the admin (a module uses it as its `context`)."""
    logged_in = browser.new_context(viewport={"width": 1280, "height": 800}, storage_state=admin_state)
    yield logged_in
    logged_in.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def screens(tmp_path: Path) -> Path:
    return tmp_path
