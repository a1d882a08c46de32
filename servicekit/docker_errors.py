"""What a failed Docker engine call says, for an error message of our own."""

from __future__ import annotations

import docker.errors


def explain(exc: docker.errors.DockerException) -> str:
    """The engine's explanation of a refused call (an `APIError`'s), else the exception's own text.

    The engine's explanation is the useful part ("No such image: ...", "Conflict. The container name
    ... is already in use"); the exception's text wraps it in the request's URL and status.
    """
    if isinstance(exc, docker.errors.APIError) and exc.explanation:
        return str(exc.explanation)
    return str(exc)
