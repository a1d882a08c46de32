"""The scaler's errors, mapped to gRPC status codes only in `grpc_edge.py`.

    ScalerError                    anything the scaler refuses or cannot do; the message names the problem
    ├── InvalidRequestError        a malformed request (empty version key, ...)     -> INVALID_ARGUMENT
    ├── UnknownVersionError        the version is not in the catalog snapshot         -> NOT_FOUND
    ├── CatalogUnavailableError    no catalog snapshot has arrived yet                -> UNAVAILABLE
    └── ReplicaError               one replica could not be started or kept serving (logged, then retried)
        ├── ArtifactError          the process backend cannot fetch or unpack the version's package
        ├── ImageError             the docker backend cannot find or pull the version's image
        ├── StartError             the backend could not launch the replica
        ├── ReplicaExitedError     the replica exited (before turning ready, or while serving)
        └── ReadyTimeoutError      the replica did not answer ModelReady in time

Errors of the libraries underneath (docker SDK, httpx, `wire.package`, OS) are translated into these inside
the module that calls them.
"""


class ScalerError(Exception):
    """Base of the scaler's own errors."""


class InvalidRequestError(ScalerError):
    """A request is malformed."""


class UnknownVersionError(ScalerError):
    """The version key is not in the catalog snapshot."""

    def __init__(self, version_key: str) -> None:
        super().__init__(
            f"unknown version {version_key!r}: the catalog lists no released version with this key "
            "that an application uses"
        )
        self.version_key = version_key


class CatalogUnavailableError(ScalerError):
    """The scaler has not received any catalog snapshot yet."""


class ReplicaError(ScalerError):
    """A replica could not be started or kept serving."""


class ArtifactError(ReplicaError):
    """The version's package cannot be fetched or unpacked."""


class ImageError(ReplicaError):
    """The version's image cannot be found or pulled."""


class StartError(ReplicaError):
    """The backend could not launch the replica."""


class ReplicaExitedError(ReplicaError):
    """The replica's process or container exited."""


class ReadyTimeoutError(ReplicaError):
    """The replica did not answer ModelReady in time."""
