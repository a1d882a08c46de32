"""The browser the UI stories drive, and the checks they run in it.

Debian's `chromium` (scripts/install_system.sh) is driven headless by Playwright through `executable_path`:
Playwright downloads no browser. axe-core comes from the npm registry at a pinned version with its licences,
vendored (committed) into tests/ui/vendor/ by scripts/vendor_ui_test.sh, and is injected into each page.
A missing chromium or axe-core fails the test naming what is missing.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

CHROMIUM = Path(os.environ.get("HYDRO_TEST_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
DOCS_UI = Path(__file__).resolve().parents[2] / "docs" / "ui"
SCREENSHOTS_ENV = "HYDRO_UI_SCREENSHOTS"
"""Set to 1 to write the page screenshots into docs/ui/ (they are always taken, into the test's tmp dir)."""
BLOCKING_IMPACTS = ("serious", "critical")


def chromium_path() -> str:
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Debian's chromium is not installed at {CHROMIUM} (scripts/install_system.sh installs it)"
        )
    return str(CHROMIUM)


def axe_source() -> str:
    if not AXE.is_file():
        pytest.fail(f"axe-core is missing at {AXE} (scripts/vendor_ui_test.sh vendors it from npm)")
    return AXE.read_text()


def assert_accessible(page: Page, what: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation (each one named in the failure)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # As the body of a function Playwright runs through the DevTools protocol: a <script> tag, or
        # eval, would be refused by the page's Content-Security-Policy (which the tests keep in force).
        page.evaluate(f"() => {{ {axe_source()}\n}}")
        assert page.evaluate("() => typeof window.axe !== 'undefined'"), "axe-core did not load into the page"
    result: dict[str, Any] = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    blocking = [v for v in result["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    if blocking:
        described = [
            {
                "rule": v["id"],
                "impact": v["impact"],
                "help": v["help"],
                "nodes": [f"{' '.join(node['target'])}: {node['html'][:160]}" for node in v["nodes"][:5]],
            }
            for v in blocking
        ]
        pytest.fail(
            f"{what} ({page.url}): axe-core found {len(blocking)} serious or critical violation(s):\n"
            + json.dumps(described, indent=1)
        )


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    """A full-page screenshot `name`.png; copied into docs/ui/ when HYDRO_UI_SCREENSHOTS=1."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000, f"screenshot {name} is empty"
    if os.environ.get(SCREENSHOTS_ENV) == "1":
        DOCS_UI.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS_UI / path.name)
    return path


def log_in(page: Page, ui: str, token: str) -> None:
    """Open the UI, which asks for a token, and log in with it as a user types it."""
    page.goto(ui)
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
