"""What an edge hands the data plane for one invoke (`Invocation`), and what it gets back (`Answer`).

An edge (HTTP, gRPC, later Kafka) translates its transport and nothing else: it builds one `Invocation`
per request and calls `DataPlane.invoke` once, which does everything between (routing, invoke keys, the
version asked for, the inputs and the outputs asked for, the pipeline with its holds and shadows,
sampling) and the accounting of every outcome (metrics, the request line). The inputs come in one of two
forms:

- `request`: an Open Inference Protocol gRPC `ModelInferRequest`, forwarded as it came. A well-formed
  request is checked on the message itself, never decoded to numpy (`wire.oip_grpc.fits`).
- `decode`: a coroutine the plane calls with the drawn first stage's signature (and the invoke limits,
  `wire.limits`) once the application, the key and the version are known; it reads the edge's body
  (JSON, plain form, binary extension) into `Inputs`. The plain form cannot be read without the
  signature, and a body is not read at all for a request refused before.

The edge's `reply` turns the `Answer` into its transport's answer inside the invoke, so its time and
failures are the invoke's. Errors come back as `RouterError`s (an unexpected failure as
`InternalError`, already logged with its traceback); a cancelled invoke (the caller went away) as
`asyncio.CancelledError`. The edge maps them to its statuses with its `StatusTable`, the same table the
plane reads the status of the request line from: an outcome is counted alike on every edge.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from protos.inference import grpc_service_pb2 as pb
from router.errors import RouterError
from router.request_log import RequestContext
from wire.limits import TensorLimits
from wire.oip_json import RequestedOutputs
from wire.signature import Signature

Status = TypeVar("Status")
Reply = TypeVar("Reply")


class StatusTable(Generic[Status]):
    """How one edge answers each outcome: an answer, a cancel, each kind of `RouterError` (the first
    entry the error is an instance of), anything else. `shown` is how the request line writes a status
    (an HTTP status as is, a gRPC code by name)."""

    def __init__(
        self,
        *,
        ok: Status,
        cancelled: Status,
        internal: Status,
        errors: tuple[tuple[type[RouterError], Status], ...],
        shown: Callable[[Status], int | str],
    ) -> None:
        self.ok, self.cancelled, self.internal, self.errors, self.shown = (
            ok,
            cancelled,
            internal,
            errors,
            shown,
        )
        # Read on every invoke: shown once here.
        self.ok_shown = shown(ok)
        self.cancelled_shown = shown(cancelled)

    def of(self, exc: RouterError) -> Status:
        for kind, status in self.errors:
            if isinstance(exc, kind):
                return status
        return self.internal


@dataclass(frozen=True, slots=True)
class Inputs:
    """A request body as its edge decoded it."""

    arrays: dict[str, np.ndarray]
    request_id: str = ""
    """The protocol's own `id` the body carried (answers echo it); not the router's request id."""
    outputs: RequestedOutputs = field(default_factory=RequestedOutputs)
    """The outputs asked for (all when empty), and in which form."""


@dataclass(slots=True)
class Answer:
    """An invoke's result, for the edge's `reply`."""

    response: pb.ModelInferResponse
    """The last stage's answer as its replica sent it, renamed to the application and the version asked
    for."""
    outputs: dict[str, np.ndarray] | None
    """The outputs asked for, decoded (only when the inputs came through `decode`)."""
    inputs: Inputs | None
    """What `decode` returned (None for a `request`)."""
    context: RequestContext


@dataclass(slots=True, eq=False)
class Invocation(Generic[Reply]):
    """One request as its edge read it (see the module docstring)."""

    application: str
    transport: str
    """'http', 'grpc' or 'kafka': the `protocol` label of the metrics, `transport` of the request line."""
    request_id: str
    """The router's id of this invoke (`router.request_log.request_id_from`)."""
    statuses: StatusTable[Any]
    reply: Callable[[Answer], Awaitable[Reply]]
    version: str = ""
    """The model version asked for ("" = none; see `admission.check_version`)."""
    refused_id: bool = False
    """The caller sent a request id that was not sane; `request_id` is a new one."""
    authorization: str | None = None
    """`Bearer <invoke key>`, as the caller sent it."""
    deadline: float | None = None
    """When the caller stops waiting, in loop time."""
    request: pb.ModelInferRequest | None = None
    """The inputs as an OIP gRPC message (consumed by the invoke)."""
    decode: Callable[[Signature, TensorLimits], Awaitable[Inputs]] | None = None
    """Reads the inputs, given the first stage's signature and the invoke limits, which it checks before
    it builds an array (raises RouterError or TensorError)."""
    envelope_error: RouterError | None = None
    """What the edge could not read around the inputs (an unreadable Request-Timeout header): the
    invoke refuses with it before anything else, and counts it like any other refusal."""
