"""`python -m control_plane`: run the control plane alone, configured by HYDRO_* variables."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from control_plane.server import serve
from control_plane.settings import Settings


async def _main() -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await serve(Settings())


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(_main())
    except OSError as exc:
        print(f"control plane: {exc}", file=sys.stderr)
        sys.exit(1)
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
