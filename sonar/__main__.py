"""`python -m sonar`: run Sonar alone, configured by HYDRO_* variables, until SIGINT or SIGTERM."""

from __future__ import annotations

from servicekit.serving import run_service
from sonar.server import serve
from sonar.settings import Settings


def main() -> None:
    run_service("sonar", lambda: serve(Settings()))


if __name__ == "__main__":
    main()
