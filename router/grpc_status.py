"""The gRPC status each router error answers with: the gRPC edge's replies, and the status the Kafka edge
writes in its request lines (so a Kafka invoke's line reads the same as a gRPC call's)."""

from __future__ import annotations

import grpc

from router.errors import (
    ApplicationNotFoundError,
    DeadlineExceededError,
    InvalidInputError,
    PayloadTooLargeError,
    QueueFullError,
    UnauthenticatedError,
    UnavailableError,
    UpstreamError,
)
from router.invocation import StatusTable

GRPC_STATUSES = StatusTable(
    ok=grpc.StatusCode.OK,
    cancelled=grpc.StatusCode.CANCELLED,
    internal=grpc.StatusCode.INTERNAL,
    errors=(
        (InvalidInputError, grpc.StatusCode.INVALID_ARGUMENT),
        (UnauthenticatedError, grpc.StatusCode.UNAUTHENTICATED),
        (ApplicationNotFoundError, grpc.StatusCode.NOT_FOUND),
        (PayloadTooLargeError, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (QueueFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (UnavailableError, grpc.StatusCode.UNAVAILABLE),
        (DeadlineExceededError, grpc.StatusCode.DEADLINE_EXCEEDED),
        (UpstreamError, grpc.StatusCode.INTERNAL),
    ),
    shown=lambda code: code.name,
)
