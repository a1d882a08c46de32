"""`python -m scaler`: run the scaler alone, configured by HYDRO_* variables, until SIGINT or SIGTERM."""

from __future__ import annotations

from protos.serving import run_service
from scaler.server import serve
from scaler.settings import Settings


def main() -> None:
    run_service("scaler", lambda: serve(Settings()))


if __name__ == "__main__":
    main()
