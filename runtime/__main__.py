"""`python -m runtime --model-dir DIR --port PORT [--host HOST]`: serve one model version.

The working directory becomes DIR, so a model can open its files by relative path.
Exit status: 0 after a graceful stop (SIGTERM or SIGINT), 1 when the model cannot be served (the reason
is the last line on stderr), 2 on bad arguments.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys

# Importing the server pulls in grpc, numpy and the protos before the arguments are parsed: every
# start pays for them anyway, and the first request waits for the start.
from runtime.errors import StartupError
from runtime.server import serve
from runtime.settings import Settings, parse_args

log = logging.getLogger("runtime")


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    logging.basicConfig(
        level=settings.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The model may open its files relative to its folder, wherever the process was started from.
    settings = dataclasses.replace(settings, model_dir=settings.model_dir.resolve())
    if settings.model_dir.is_dir():
        os.chdir(settings.model_dir)
    try:
        asyncio.run(_run(settings))
    except StartupError as exc:
        log.debug("startup failed", exc_info=True)
        sys.stderr.write(f"hydro-runtime: error: {exc}\n")
        return 1
    return 0


async def _run(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT; a second signal cuts the grace period short."""
    task = asyncio.current_task()
    assert task is not None
    stopping = False

    def stop(signum: int) -> None:
        nonlocal stopping
        log.info("received %s", signal.Signals(signum).name)
        stopping = True
        task.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    try:
        await serve(settings)
    except asyncio.CancelledError:
        if not stopping:
            raise


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit without joining worker threads: a model call still running after the grace period (or a load
    # interrupted by SIGTERM) must not keep the process alive.
    os._exit(code)
