"""JSON log lines on stderr, one object per record: what the router and every runtime write per request.

Shared here because the runtime (inside model images) and the router both need it and may import only
`protos/`; standard library only, so the runtime image needs nothing more.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, and the record's `fields` extra (or its message)."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._prefix = ""

    def format(self, record: logging.LogRecord) -> str:
        second = int(record.created)
        if second != self._second:  # formatting the date once a second is enough
            self._second = second
            self._prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        line: dict[str, Any] = {
            "time": f"{self._prefix}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, separators=(",", ":"))


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to `sys.stderr` as it is at each record (test runners and launchers may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


@contextmanager
def json_lines(
    logger: logging.Logger, level: int | str | None = None, handler: logging.Handler | None = None
) -> Iterator[None]:
    """While in the block, `logger` writes JSON lines to stderr (not through the root's format), at
    `level` if given ('OFF': none), through `handler` if given (written out when the block ends)."""
    handler = handler or StderrHandler()
    handler.setFormatter(JsonFormatter())
    previous = (logger.level, logger.propagate)
    if level is not None:
        logger.setLevel(logging.CRITICAL + 1 if level == "OFF" else level)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield
    finally:
        handler.flush()
        logger.removeHandler(handler)
        logger.setLevel(previous[0])
        logger.propagate = previous[1]
