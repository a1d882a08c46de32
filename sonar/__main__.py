"""`python -m sonar`: run Sonar alone, configured by HYDRO_* variables, until SIGINT or SIGTERM.

A bad HYDRO_* variable exits 2 with one line naming it (see `servicekit.serving.run_service`).
"""

from __future__ import annotations

from servicekit.serving import run_service
from sonar.server import serve
from sonar.settings import Settings


def main() -> None:
    run_service("sonar", Settings, serve)


if __name__ == "__main__":
    main()
