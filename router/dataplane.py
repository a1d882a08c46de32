"""The invoke use case, once for every edge: `DataPlane.invoke(Invocation) -> the edge's reply`.

Per request: the application comes from the current routing table; its invoke key and the version asked
for are checked; one variant per stage is drawn by weight (`router.plan`); the inputs and the outputs
asked for are checked against the drawn versions' signatures before anything can wake a replica
(`router.admission`); the request runs through the pipeline (`router.pipeline`: holds, shadows,
sampling); and every outcome, answer, refusal, cancel or failure, is counted and logged by
`router.accounting` before the answer or the error goes back. The invoke limits (`wire.limits`: tensors,
elements, dimensions) are checked here for every edge, on the gRPC message as it came or by the decode
the plane hands them to, before any array is built. See `router.invocation` for what an edge
hands in and gets back.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable

import numpy as np

from protos.inference import grpc_service_pb2 as pb
from router import admission, plan
from router.accounting import Accounting
from router.catalog_watch import CatalogWatch
from router.dispatch import Dispatch
from router.errors import (
    ApplicationNotFoundError,
    InternalError,
    InvalidInputError,
    ModelFailedError,
    NoSnapshotError,
    RouterError,
)
from router.invocation import Answer, Inputs, Invocation, Reply
from router.metrics import Metrics
from router.pipeline import Pipeline
from router.request_log import RequestContext, RequestLog
from router.routing import Route, Version
from router.sampler import Sampler
from wire import oip_grpc
from wire.datatypes import TensorError
from wire.limits import TensorLimits
from wire.signature import Signature

log = logging.getLogger(__name__)

SERVER_NAME = "hydro-router"
# Open Inference Protocol extensions both edges advertise.
EXTENSIONS = ("binary_tensor_data",)
DEFAULT_LIMITS = TensorLimits()


class DataPlane:
    def __init__(
        self,
        catalog: CatalogWatch,
        dispatch: Dispatch,
        metrics: Metrics,
        *,
        snapshot_wait_s: float = 5.0,
        max_shadow_calls: int = 256,
        random: Callable[[], float] = random.random,
        request_log: RequestLog | None = None,
        sampler: Sampler | None = None,
        limits: TensorLimits = DEFAULT_LIMITS,
    ) -> None:
        self.catalog = catalog
        self.limits = limits
        self.metrics = metrics
        self.snapshot_wait_s = snapshot_wait_s
        self.accounting = Accounting(
            metrics, request_log if request_log is not None else RequestLog("router")
        )
        self.pipeline = Pipeline(
            catalog, dispatch, metrics, max_shadow_calls=max_shadow_calls, sampler=sampler
        )
        self._random = random

    # -- the invoke -------------------------------------------------------------------------------

    async def invoke(self, invocation: Invocation[Reply]) -> Reply:
        """Serve one invoke and count it; raise RouterError (InternalError for anything unexpected, logged
        here with its traceback) or CancelledError, already counted."""
        application = invocation.application
        context = RequestContext(
            invocation.request_id, invocation.transport, application, refused_id=invocation.refused_id
        )
        statuses = invocation.statuses
        try:
            reply = await invocation.reply(await self._answer(invocation, context))
        except RouterError as exc:
            label = "unknown" if isinstance(exc, ApplicationNotFoundError) else application
            self.accounting.finish(context, label, exc.reason, statuses.shown(statuses.of(exc)), str(exc))
            raise
        except asyncio.CancelledError:  # the caller went away or its deadline passed
            self.accounting.finish(context, application, "cancelled", statuses.cancelled_shown, None)
            raise
        except Exception as exc:
            log.exception("request %s to application %r failed", invocation.request_id, application)
            problem = f"{type(exc).__name__}: {exc}"
            self.accounting.finish(
                context, application, "internal", statuses.shown(statuses.internal), problem
            )
            raise InternalError(invocation.request_id) from None
        self.accounting.finish(context, application, "ok", statuses.ok_shown, None)
        return reply

    async def _answer(self, invocation: Invocation[Reply], context: RequestContext) -> Answer:
        if invocation.envelope_error is not None:
            raise invocation.envelope_error
        route = await self.route(invocation.application)
        admission.authenticate(route, invocation.authorization)
        admission.check_version(route, invocation.version)
        drawn = plan.draw(route, self._random)
        request = invocation.request
        inputs: Inputs | None = None
        if request is not None:
            admission.check_request(drawn, request, self.limits)
            if request.outputs:
                admission.check_outputs(drawn, [output.name for output in request.outputs])
        else:
            if invocation.decode is None:
                raise TypeError("an Invocation carries a request or a decode")
            try:
                inputs = await invocation.decode(drawn.signature, self.limits)
            except TensorError as exc:
                raise InvalidInputError(str(exc)) from None
            admission.check_inputs(drawn, inputs.arrays)
            wanted = inputs.outputs.names
            admission.check_outputs(drawn, wanted)
            request = oip_grpc.encode_infer_request("", inputs.arrays, request_id=inputs.request_id)
            for name in wanted:
                request.outputs.add(name=name)
        response = await self.pipeline.infer(drawn, request, invocation.deadline, context)
        response.model_name = invocation.application
        response.model_version = invocation.version
        if inputs is None:
            return Answer(response, None, None, context)
        return Answer(response, _decoded(invocation.application, response, inputs), inputs, context)

    # -- what the edges read besides -------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """True once the router has a routing table to serve from."""
        return self.catalog.view is not None

    async def route(self, application: str) -> Route:
        """The application's route; raise ApplicationNotFoundError or NoSnapshotError."""
        table = self.catalog.view
        if table is None:
            table = await self.catalog.wait_view(self.snapshot_wait_s)
            if table is None:
                raise NoSnapshotError(
                    f"the router has no routing table yet: the control plane's catalog at "
                    f"{self.catalog.address} has not answered"
                )
        route = table.routes.get(application)
        if route is None:
            raise ApplicationNotFoundError(application)
        return route

    @staticmethod
    def check_version(route: Route, version: str) -> None:
        admission.check_version(route, version)

    @staticmethod
    def served_version(route: Route) -> Version | None:
        return admission.served_version(route)

    @staticmethod
    def signature(route: Route) -> Signature:
        return plan.signature_of(route)

    async def close(self) -> None:
        """Cancel the shadow calls still under way."""
        await self.pipeline.close()


def _decoded(application: str, response: pb.ModelInferResponse, inputs: Inputs) -> dict[str, np.ndarray]:
    """The outputs `inputs` asked for (all when none), decoded from the last stage's answer."""
    wanted = inputs.outputs.names
    try:
        outputs = oip_grpc.decode_infer_response(response)
        if wanted:
            outputs = {name: outputs[name] for name in wanted}
    except (TensorError, KeyError) as exc:
        raise ModelFailedError(f"application {application!r}: the answer cannot be read: {exc}") from None
    return outputs
