"""The internal gRPC services' security: the service credential on every call, TLS per the settings.

The control plane's `hydro.v1.Catalog`, the scaler's `hydro.v1.Scaler` and Sonar's `hydro.v1.Sonar` serve
other services only. Their servers (`service_server`) refuse every call, of every method, that does not
carry the service credential (`servicekit.credentials.service_token`) as gRPC metadata
`authorization: Bearer <token>`: UNAUTHENTICATED with a message saying why, and a warning in the log
naming the caller's address, the method and why. None of them serves the standard gRPC health service;
if one ever does, it is behind the credential too (their health is on HTTP: `/health`).

Their callers open channels with a `ServiceLink`, which adds the credential to every call with a client
interceptor (one per call kind), so no call site can forget it. It costs once per call, and once per
stream on a stream: the routers' hot links (load reports, endpoint watch, Sonar's sample stream) and the
catalog watch are long-lived streams, and the unary calls (Activate, ListReplicas) are rare. Measured on
the loaded two-core test machine, a unary ListReplicas round trip on loopback took 0.9-1.3 ms with and
without the interceptors on both sides: the difference was inside the run-to-run noise.

With `HYDRO_TLS_CERT_FILE` set the servers speak TLS (`add_port`), requiring a client certificate signed
by `HYDRO_TLS_CA_FILE` under `HYDRO_TLS_CLIENT_AUTH`; the links connect over TLS (when a CA is set, or
the process serves TLS itself), verifying the server against `HYDRO_TLS_CA_FILE` (else the system's
roots) and presenting this process's certificate under mutual TLS. The router's public gRPC invoke uses
`add_port` too, but never asks callers for a certificate nor the service credential (invoke keys guard
it). The router's channels to replicas and the scaler's probes stay plaintext: replicas listen on
loopback or the Docker network only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import grpc

from servicekit.credentials import bearer, matches, service_token
from servicekit.settings import ServiceSettings
from servicekit.tls import PLAIN, Tls

log = logging.getLogger(__name__)

AUTHORIZATION = "authorization"
ChannelOptions = Sequence[tuple[str, Any]]

# grpc's stubs make the interceptor bases generic; at run time they are plain classes.
if TYPE_CHECKING:
    _ServerInterceptor = grpc.aio.ServerInterceptor[Any, Any]
    _UnaryUnaryInterceptor = grpc.aio.UnaryUnaryClientInterceptor[Any, Any]
    _UnaryStreamInterceptor = grpc.aio.UnaryStreamClientInterceptor[Any, Any]
    _StreamUnaryInterceptor = grpc.aio.StreamUnaryClientInterceptor[Any, Any]
    _StreamStreamInterceptor = grpc.aio.StreamStreamClientInterceptor[Any, Any]
else:
    _ServerInterceptor = grpc.aio.ServerInterceptor
    _UnaryUnaryInterceptor = grpc.aio.UnaryUnaryClientInterceptor
    _UnaryStreamInterceptor = grpc.aio.UnaryStreamClientInterceptor
    _StreamUnaryInterceptor = grpc.aio.StreamUnaryClientInterceptor
    _StreamStreamInterceptor = grpc.aio.StreamStreamClientInterceptor


class ServiceCredentialCheck(_ServerInterceptor):
    """Lets a call through only with `authorization: Bearer <token>` (compared in constant time)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("the service credential is empty")
        self._token = token

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        why = self.refusal(handler_call_details.invocation_metadata)
        if why is None or handler is None:  # an unknown method stays UNIMPLEMENTED
            return handler
        return _refusing(handler, handler_call_details.method, why)

    def refusal(self, metadata: Sequence[tuple[str, str | bytes]] | None) -> str | None:
        """Why a call with `metadata` is refused; None when it carries the service credential."""
        values = [value for key, value in metadata or () if key == AUTHORIZATION]
        if not values:
            return "no `authorization` metadata was sent"
        value = values[0]
        token = bearer(value if isinstance(value, str) else None)
        if token is None:
            return "the `authorization` metadata is not `Bearer <token>`"
        if not matches(token, self._token):
            return "the bearer token is not the service credential"
        return None


def _refusing(
    handler: grpc.RpcMethodHandler[Any, Any], method: str, why: str
) -> grpc.RpcMethodHandler[Any, Any]:
    """A handler of the same kind as `handler` that answers UNAUTHENTICATED and logs the attempt."""

    async def refuse(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        log.warning("refused %s from %s: %s", method, context.peer(), why)
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            f"{method} needs the service credential (gRPC metadata `authorization: Bearer "
            f"<HYDRO_SERVICE_TOKEN>`): {why}",
        )

    make = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }[(handler.request_streaming, handler.response_streaming)]
    refused: grpc.RpcMethodHandler[Any, Any] = make(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
    return refused


def service_server(token: str, options: ChannelOptions | None = None) -> grpc.aio.Server:
    """A grpc.aio server whose every call needs the service credential `token`."""
    return grpc.aio.server(interceptors=[ServiceCredentialCheck(token)], options=options)


def add_port(server: grpc.aio.Server, address: str, what: str, tls: Tls, *, public: bool = False) -> int:
    """Listen on `address`, over TLS when `tls` has a certificate (asking callers for theirs under mutual
    TLS, unless the server is `public`); raise OSError naming `what` when it cannot be bound."""
    try:
        if tls.serving:
            credentials = tls.server_credentials(require_client_cert=tls.client_auth and not public)
            bound = server.add_secure_port(address, credentials)
        else:
            bound = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise OSError(f"{what} cannot listen on {address}: {exc}") from exc
    if bound == 0:
        raise OSError(f"{what} cannot listen on {address}")
    return bound


class ServiceLink:
    """How this process calls the internal gRPC services: with the service credential on every call,
    over TLS when the settings ask for it. `channel(address)` opens one channel."""

    def __init__(self, token: str, tls: Tls = PLAIN) -> None:
        self.tls = tls
        # The stubs type client interceptors as "cast or ignore"; grpc.aio takes any of the four kinds.
        self._interceptors: list[Any] = [
            kind(token)
            for kind in (
                _UnaryUnaryCredential,
                _UnaryStreamCredential,
                _StreamUnaryCredential,
                _StreamStreamCredential,
            )
        ]

    @classmethod
    def from_settings(cls, settings: ServiceSettings, tls: Tls) -> ServiceLink:
        """The link of a service: its service credential (resolved now), TLS per `tls`."""
        return cls(service_token(settings), tls)

    def channel(self, address: str, options: ChannelOptions | None = None) -> grpc.aio.Channel:
        if self.tls.connecting:
            return grpc.aio.secure_channel(
                address, self.tls.channel_credentials(), options=options, interceptors=self._interceptors
            )
        return grpc.aio.insecure_channel(address, options=options, interceptors=self._interceptors)


class _Credential:
    """Adds `authorization: Bearer <token>` to a call's metadata."""

    def __init__(self, token: str) -> None:
        self._pair = (AUTHORIZATION, f"Bearer {token}")

    def _with_credential(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self._pair)
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


# One interceptor per call kind: grpc.aio files each interceptor under the first kind it is an instance of.
class _UnaryUnaryCredential(_Credential, _UnaryUnaryInterceptor):
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._with_credential(client_call_details), request)


class _UnaryStreamCredential(_Credential, _UnaryStreamInterceptor):
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._with_credential(client_call_details), request)


class _StreamUnaryCredential(_Credential, _StreamUnaryInterceptor):
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._with_credential(client_call_details), request_iterator)


class _StreamStreamCredential(_Credential, _StreamStreamInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._with_credential(client_call_details), request_iterator)
