"""Steps shared by the stories on both runtimes."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.platform import EXAMPLES


def copy_example(example: str, dest: Path) -> tuple[Path, str]:
    """Copy an example under a unique model name, so runs never share images or containers."""
    name = f"{example}-{uuid.uuid4().hex[:6]}"
    folder = dest / name
    shutil.copytree(EXAMPLES / example, folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest_path = folder / "hydro.yaml"
    manifest: dict[str, Any] = yaml.safe_load(manifest_path.read_text())
    manifest["name"] = name
    manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    return folder, name


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    """Wait until `condition()` holds; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")
