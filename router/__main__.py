"""`python -m router`: run the router alone, configured by HYDRO_* variables, until SIGINT or SIGTERM."""

from __future__ import annotations

from protos.serving import run_service
from router.server import serve
from router.settings import Settings


def main() -> None:
    run_service("router", lambda: serve(Settings()))


if __name__ == "__main__":
    main()
