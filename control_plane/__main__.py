"""`python -m control_plane`: run the control plane alone, configured by HYDRO_* variables."""

from __future__ import annotations

from control_plane.server import serve
from control_plane.settings import Settings
from servicekit.serving import run_service


def main() -> None:
    run_service("control plane", lambda: serve(Settings()))


if __name__ == "__main__":
    main()
