"""`python -m scaler`: run the scaler alone, configured by HYDRO_* variables, until SIGINT or SIGTERM."""

from __future__ import annotations

from scaler.server import serve
from scaler.settings import Settings
from servicekit.serving import run_service


def main() -> None:
    run_service("scaler", lambda: serve(Settings()))


if __name__ == "__main__":
    main()
