"""The floor of a Python gRPC hop: a pass-through proxy for ModelInfer that forwards the request's bytes.

`bench.router` measures it beside the router at concurrency 1, so the router's overhead can be read against
what any Python process in the call path costs on the same machine in the same run. The proxy parses
nothing, checks nothing and logs nothing; it is the synchronous gRPC server and channel (a little cheaper
than grpc.aio's here). Run alone: `python -m bench.grpc_hop PORT TARGET`.
"""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor

import grpc

METHOD = "/inference.GRPCInferenceService/ModelInfer"


def serve(port: int, target: str) -> None:
    channel = grpc.insecure_channel(target)
    forward = channel.unary_unary(METHOD)  # bytes in, bytes out

    def infer(request: bytes, context: grpc.ServicerContext) -> bytes:
        answer: bytes = forward(request, timeout=context.time_remaining())
        return answer

    handler = grpc.unary_unary_rpc_method_handler(infer)
    service = grpc.method_handlers_generic_handler("inference.GRPCInferenceService", {"ModelInfer": handler})
    server = grpc.server(ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((service,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print("listening", flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2])
