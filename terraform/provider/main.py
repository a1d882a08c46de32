"""`terraform-provider-hydro`: the executable Terraform starts (it is not meant for people to run)."""

from __future__ import annotations

import logging
import signal
import sys
import threading


def main() -> None:
    # Terraform handles Ctrl-C itself and then asks its plugins to stop; the plugin must not die first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    import grpc

    from terraform.provider import plugin
    from terraform.provider.protocol import go_plugin_pb2, go_plugin_pb2_grpc
    from terraform.provider.protocol import tfplugin6_pb2_grpc as pb_grpc
    from terraform.provider.provider import PROVIDER, data_sources, resources
    from terraform.provider.servicer import ProviderService

    class Controller(go_plugin_pb2_grpc.GRPCControllerServicer):
        def __init__(self, stop: threading.Event) -> None:
            self.stop = stop

        def Shutdown(
            self, request: go_plugin_pb2.Empty, context: grpc.ServicerContext
        ) -> go_plugin_pb2.Empty:
            self.stop.set()
            return go_plugin_pb2.Empty()

    def register(server: grpc.Server, stop: threading.Event) -> None:
        service = ProviderService(PROVIDER, resources(), data_sources(), stop)
        pb_grpc.add_ProviderServicer_to_server(service, server)  # type: ignore[no-untyped-call]
        go_plugin_pb2_grpc.add_GRPCControllerServicer_to_server(Controller(stop), server)  # type: ignore[no-untyped-call]

    sys.exit(plugin.serve(register))


if __name__ == "__main__":
    main()
