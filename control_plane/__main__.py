"""`python -m control_plane`: run the control plane alone, configured by HYDRO_* variables.

A bad HYDRO_* variable exits 2 with one line naming it (see `servicekit.serving.run_service`).
"""

from __future__ import annotations

from control_plane.server import serve
from control_plane.settings import Settings
from servicekit.serving import run_service


def main() -> None:
    run_service("control plane", Settings, serve)


if __name__ == "__main__":
    main()
