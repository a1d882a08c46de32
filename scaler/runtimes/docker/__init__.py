"""The `docker` backend (`DockerRuntime`), one module per concept; see `backend.py`."""

from scaler.runtimes.docker.backend import DockerRuntime
from scaler.runtimes.docker.containers import PORT_NUMBER

__all__ = ["PORT_NUMBER", "DockerRuntime"]
