"""The runtime's settings: command-line flags with `HYDRO_*` environment fallbacks.

The runtime ships inside every model image with nothing but grpcio, protobuf and numpy, so this is
argparse rather than pydantic-settings; flags win over the environment, the environment over defaults.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 9000
DEFAULT_GRACE_S = 5.0
DEFAULT_INLINE_PREDICT_BELOW_MS = 1.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    model_dir: Path
    """The model folder: the model's files and the hydro.json the control plane wrote (HYDRO_MODEL_DIR)."""
    port: int = DEFAULT_PORT
    """The gRPC port to listen on; 0 picks a free one and logs it (HYDRO_GRPC_PORT)."""
    host: str = DEFAULT_HOST
    """The address to listen on (HYDRO_GRPC_HOST)."""
    shutdown_grace_s: float = DEFAULT_GRACE_S
    """On SIGTERM, how long in-flight requests may take before they are cancelled (HYDRO_SHUTDOWN_GRACE_S)."""
    log_level: str = "INFO"
    """Python logging level for the runtime's log on stderr (HYDRO_LOG_LEVEL)."""
    inline_predict_below_ms: float = DEFAULT_INLINE_PREDICT_BELOW_MS
    """A model whose recent predictions all took less runs on the event loop when it serves one request
    at a time; 0 = always on worker threads (HYDRO_INLINE_PREDICT_BELOW_MS; see runtime.placement)."""


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Parse flags, falling back to the environment; exits with status 2 and a usage line on bad input."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m runtime",
        description="Serve one Hydro model version over the Open Inference Protocol (gRPC).",
    )
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=env.get("HYDRO_MODEL_DIR"),
        help="model folder holding hydro.json (env HYDRO_MODEL_DIR)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=env.get("HYDRO_GRPC_PORT", str(DEFAULT_PORT)),
        help=f"gRPC port, 0 = any free port (env HYDRO_GRPC_PORT, default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--host",
        default=env.get("HYDRO_GRPC_HOST", DEFAULT_HOST),
        help=f"address to listen on (env HYDRO_GRPC_HOST, default {DEFAULT_HOST})",
    )
    parser.add_argument(
        "--shutdown-grace-s",
        type=_seconds,
        default=env.get("HYDRO_SHUTDOWN_GRACE_S", str(DEFAULT_GRACE_S)),
        help="seconds in-flight requests get to finish on SIGTERM "
        f"(env HYDRO_SHUTDOWN_GRACE_S, default {DEFAULT_GRACE_S})",
    )
    parser.add_argument(
        "--log-level",
        type=str.upper,
        default=env.get("HYDRO_LOG_LEVEL", "INFO"),
        help=f"{', '.join(LOG_LEVELS)} (env HYDRO_LOG_LEVEL, default INFO)",
    )
    parser.add_argument(
        "--inline-predict-below-ms",
        type=_milliseconds,
        default=env.get("HYDRO_INLINE_PREDICT_BELOW_MS", str(DEFAULT_INLINE_PREDICT_BELOW_MS)),
        help="a model whose recent predictions all took less runs on the event loop while it serves one "
        "request at a time; 0 = always on worker threads "
        f"(env HYDRO_INLINE_PREDICT_BELOW_MS, default {DEFAULT_INLINE_PREDICT_BELOW_MS})",
    )
    args = parser.parse_args(argv)
    if args.model_dir is None:
        parser.error("--model-dir is required (or set HYDRO_MODEL_DIR)")
    if args.log_level not in LOG_LEVELS:
        parser.error(f"log level {args.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    return Settings(
        model_dir=Path(args.model_dir),
        port=args.port,
        host=args.host,
        shutdown_grace_s=args.shutdown_grace_s,
        log_level=args.log_level,
        inline_predict_below_ms=args.inline_predict_below_ms,
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {text!r} is not an integer") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 0 and 65535")
    return port


def _non_negative(unit: str) -> Callable[[str], float]:
    """An argparse type: a number of `unit` that is >= 0."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from None
        if not value >= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= 0 {unit}")
        return value

    return parse


_seconds = _non_negative("seconds")
_milliseconds = _non_negative("milliseconds")
