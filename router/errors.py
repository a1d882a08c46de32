"""The router's errors, mapped to HTTP and gRPC status codes only in `http_edge.py` and `grpc_edge.py`.

    RouterError                      anything the router refuses; the message names the problem
    ├── InvalidInputError            malformed body, wrong names, datatypes, shapes   400 INVALID_ARGUMENT
    │   └── UnsupportedEncodingError a Content-Encoding other than gzip or deflate    415 (HTTP only)
    ├── PayloadTooLargeError         a request above the message size limit           413 RESOURCE_EXHAUSTED
    ├── UnauthenticatedError         an invoke key is missing or wrong                401 UNAUTHENTICATED
    ├── ApplicationNotFoundError     no such application in the routing snapshot      404 NOT_FOUND
    │   ├── VersionNotFoundError     the application does not run the version asked for
    │   └── RouteRemovedError        a new snapshot removed the application or version of a held request
    ├── QueueFullError               the version's hold queue is full                 429 RESOURCE_EXHAUSTED
    ├── UnavailableError             nothing can answer right now; retry later        503 UNAVAILABLE
    │   ├── NoSnapshotError          no routing snapshot from the control plane yet
    │   ├── NotReleasedError         a stage has no released version to route to
    │   ├── HoldTimeoutError         no replica became ready within the hold timeout
    │   └── ReplicaUnavailableError  the replica failed and so did the one retry
    ├── DeadlineExceededError        the caller's deadline passed                     504 DEADLINE_EXCEEDED
    ├── UpstreamError                a replica answered, but not usably               502 INTERNAL
    │   ├── ModelFailedError         the model failed (the replica's own message)
    │   └── PipelineError            a stage's outputs lack the next stage's inputs
    └── InternalError                anything unexpected (logged with its traceback;  500 INTERNAL
                                     the caller is told the request id only)
    ActivationError                  the scaler refused or missed an Activate (internal: held requests
                                     keep waiting, and the hold timeout's message quotes it)

Errors of the libraries underneath (grpc, wire's TensorError and SignatureError, orjson) are translated
into these inside the module that calls them; `DataPlane.invoke` turns any other exception into an
InternalError. `reason` is the label used in metrics and the request line. A cancelled invoke (the
caller went away) is no error: it is counted as 'cancelled' (499 in the HTTP request line, CANCELLED).
"""

from __future__ import annotations

from typing import ClassVar


class RouterError(Exception):
    """Base of the router's own errors."""

    reason: ClassVar[str] = "error"


class InvalidInputError(RouterError):
    """The request cannot be served as sent: the message names the field."""

    reason = "invalid_input"


class UnsupportedEncodingError(InvalidInputError):
    """The body is compressed in a coding the router does not read."""

    reason = "unsupported_encoding"


class PayloadTooLargeError(RouterError):
    """The request is larger than the router accepts (`what`: which body, say once decompressed)."""

    reason = "too_large"

    def __init__(self, limit: int, what: str = "request body") -> None:
        super().__init__(f"{what} is larger than the limit of {limit} bytes (router_max_message_bytes)")
        self.limit = limit


class UnauthenticatedError(RouterError):
    """The application requires an invoke key, and the request carries none or a wrong one."""

    reason = "unauthenticated"


class ApplicationNotFoundError(RouterError):
    """No application of that name is routed."""

    reason = "not_found"

    def __init__(self, application: str) -> None:
        super().__init__(f"unknown application {application!r}")
        self.application = application


class VersionNotFoundError(ApplicationNotFoundError):
    """The application does not answer to the model version asked for (see `admission.check_version`)."""

    def __init__(self, application: str, version: str, detail: str) -> None:
        RouterError.__init__(self, f"application {application!r} has no version {version!r}: {detail}")
        self.application = application
        self.version = version


class RouteRemovedError(ApplicationNotFoundError):
    """A new routing snapshot removed the application, or its version, while the request was held."""

    def __init__(self, application: str, version_key: str, *, application_deleted: bool) -> None:
        if application_deleted:
            message = f"application {application!r} was deleted while the request was held"
        else:
            message = (
                f"application {application!r} stopped routing to {version_key} while the request was held"
            )
        RouterError.__init__(self, message)
        self.application = application
        self.version_key = version_key


class QueueFullError(RouterError):
    """The version already holds as many requests as its `max_queue` allows."""

    reason = "queue_full"

    def __init__(self, application: str, version_key: str, max_queue: int) -> None:
        super().__init__(
            f"application {application!r} is overloaded: {max_queue} requests are already waiting for "
            f"{version_key} (max_queue); retry later"
        )


class UnavailableError(RouterError):
    """Nothing can answer right now; a retry may succeed."""

    reason = "unavailable"


class NoSnapshotError(UnavailableError):
    """The router has not received the routing snapshot yet."""

    reason = "no_snapshot"


class NotReleasedError(UnavailableError):
    """A stage of the application has no released version yet."""

    reason = "not_released"


class HoldTimeoutError(UnavailableError):
    """No replica of the version became ready within the hold timeout."""

    reason = "hold_timeout"


class ReplicaUnavailableError(UnavailableError):
    """The replica could not be reached, and neither could the one the request was retried on."""

    reason = "replica_unavailable"


class DeadlineExceededError(RouterError):
    """The caller's deadline passed before the answer came."""

    reason = "deadline_exceeded"


class UpstreamError(RouterError):
    """A replica answered with something other than a usable answer."""

    reason = "upstream"


class ModelFailedError(UpstreamError):
    """The model failed while answering; the message carries the replica's own."""

    reason = "model_failed"


class PipelineError(UpstreamError):
    """A stage's outputs do not provide what the next stage takes."""

    reason = "pipeline"


class InternalError(RouterError):
    """Something unexpected failed inside the router; its traceback is logged under the request id."""

    reason = "internal"

    def __init__(self, request_id: str) -> None:
        super().__init__(f"internal error (request id {request_id})")


class ActivationError(Exception):
    """The scaler could not be asked to wake a version. Never reaches a caller by itself."""
