"""One invoke use case behind every edge: an HTTP and a gRPC request each make one call of the data
plane's `invoke`, and an invoke whose caller goes away is counted and logged as 'cancelled' on both.

The first two tests put a stand-in data plane (it records the invocations it is handed and answers by
echoing the inputs) behind the real edges, to count the calls; the others run the whole router.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import grpc
import httpx
import numpy as np

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from router.dataplane import DataPlane
from router.grpc_edge import InferenceEdge
from router.http_edge import HttpOptions, create_app
from router.invocation import Answer, Invocation
from router.request_log import RequestContext
from tests.ports import free_port
from tests.router.harness import RouterLog, StartRouter, until_queued, wait_until
from wire import oip_grpc
from wire.limits import TensorLimits
from wire.signature import Signature, TensorSpec

X = TensorSpec("x", "FP64", (-1,))


class RecordingPlane:
    """Stands in for `DataPlane`: records each invocation, answers it with its own inputs."""

    def __init__(self) -> None:
        self.invocations: list[Invocation[Any]] = []

    async def invoke(self, invocation: Invocation[Any]) -> Any:
        self.invocations.append(invocation)
        context = RequestContext(invocation.request_id, invocation.transport, invocation.application)
        if invocation.request is not None:
            response = pb.ModelInferResponse(model_name=invocation.application, id=invocation.request.id)
            return await invocation.reply(Answer(response, None, None, context))
        assert invocation.decode is not None
        inputs = await invocation.decode(Signature((X,), (X,)), TensorLimits())
        answer = Answer(pb.ModelInferResponse(), dict(inputs.arrays), inputs, context)
        return await invocation.reply(answer)


async def test_the_http_edge_calls_the_data_plane_once_per_invoke() -> None:
    plane = RecordingPlane()
    app = create_app(cast(DataPlane, plane), HttpOptions(max_body_bytes=1 << 20))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://router") as http:
        plain = await http.post("/apps/echo", json={"x": [1.0, 2.0]}, headers={"Authorization": "Bearer k"})
        oip = await http.post(
            "/v2/models/echo/versions/3/infer",
            json={"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": [5.0]}]},
        )

    assert plain.status_code == 200 and plain.json() == {"x": [1.0, 2.0]}
    assert oip.status_code == 200 and oip.json()["outputs"][0]["data"] == [5.0]
    assert [(i.application, i.transport, i.version) for i in plane.invocations] == [
        ("echo", "http", ""),
        ("echo", "http", "3"),
    ]
    assert plane.invocations[0].authorization == "Bearer k"
    assert plane.invocations[0].request_id == plain.headers["x-request-id"]


async def test_the_grpc_edge_calls_the_data_plane_once_per_invoke() -> None:
    plane = RecordingPlane()
    server = grpc.aio.server()
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(  # type: ignore[no-untyped-call]
        InferenceEdge(cast(DataPlane, plane)), server
    )
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)  # type: ignore[no-untyped-call]
            request = oip_grpc.encode_infer_request("echo", {"x": np.array([1.0])}, request_id="oip-1")
            request.model_version = "3"
            call = stub.ModelInfer(request, metadata=(("x-request-id", "mine-1"),), timeout=10)
            response = await call
            trailing = await call.trailing_metadata()
    finally:
        await server.stop(None)

    assert response.model_name == "echo" and response.id == "oip-1"
    [invocation] = plane.invocations
    assert (invocation.application, invocation.transport, invocation.version) == ("echo", "grpc", "3")
    assert invocation.request_id == "mine-1" and ("x-request-id", "mine-1") in tuple(trailing)
    assert invocation.request is not None and invocation.deadline is not None


async def _cancelled_counted(router: Any, router_log: RouterLog, transport: str, status: Any) -> None:
    """The router counts one cancelled invoke of `double` over `transport`, logs it, and holds nothing."""
    line = f'hydro_router_requests_total{{application="double",code="cancelled",protocol="{transport}"}} 1.0'

    async def counted() -> bool:
        return line in await router.metrics()

    await wait_until(counted, 5, f"a cancelled {transport} invoke to be counted")
    [logged] = [entry for entry in router_log.lines() if entry["application"] == "double"]
    assert (logged["transport"], logged["code"], logged["status"]) == (transport, "cancelled", status)
    assert 'hydro_router_queue_depth{version="double:1"} 0.0' in await router.metrics()


async def test_an_http_caller_that_goes_away_is_counted_and_logged_as_cancelled(
    start_router: StartRouter, router_log: RouterLog
) -> None:
    router = await start_router(knobs={"hold_timeout_s": 30}, scaler={"start_on_activate": False})
    held = asyncio.create_task(router.http.post("/apps/double", json={"x": [1.0]}))
    await until_queued(router, "double:1", 1)

    held.cancel()  # the client closes its connection
    with contextlib.suppress(asyncio.CancelledError):
        await held

    await _cancelled_counted(router, router_log, "http", 499)


async def test_a_grpc_caller_that_goes_away_is_counted_and_logged_as_cancelled(
    start_router: StartRouter, router_log: RouterLog
) -> None:
    router = await start_router(knobs={"hold_timeout_s": 30}, scaler={"start_on_activate": False})
    request = oip_grpc.encode_infer_request("double", {"x": np.array([1.0])})
    held = router.inference.ModelInfer(request, timeout=60)
    await until_queued(router, "double:1", 1)

    held.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await held

    await _cancelled_counted(router, router_log, "grpc", "CANCELLED")
