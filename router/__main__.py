"""`python -m router`: run the router until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from router.server import serve
from router.settings import Settings


async def _main() -> None:
    task = asyncio.create_task(serve(Settings()))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(_main())
