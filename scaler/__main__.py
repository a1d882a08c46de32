"""`python -m scaler`: run the scaler alone, configured by HYDRO_* variables, until SIGINT or SIGTERM.

A bad HYDRO_* variable exits 2 with one line naming it (see `servicekit.serving.run_service`).
"""

from __future__ import annotations

from scaler.server import serve
from scaler.settings import Settings
from servicekit.serving import run_service


def main() -> None:
    run_service("scaler", Settings, serve)


if __name__ == "__main__":
    main()
