"""The control plane's notion of now. It lives in the State, so tests run schedules on a clock they move."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from control_plane.timestamps import utcnow

Clock = Callable[[], datetime]
"""Returns the current time, timezone-aware, in UTC."""


def system_clock() -> datetime:
    return utcnow()
