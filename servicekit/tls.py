"""TLS as the settings ask for it: `HYDRO_TLS_CERT_FILE` + `HYDRO_TLS_KEY_FILE` (this process serves TLS),
`HYDRO_TLS_CA_FILE` (what clients verify servers against) and `HYDRO_TLS_CLIENT_AUTH` (mutual TLS on the
internal gRPC services).

The files are read and checked once, when a service starts (`load_tls`), so that a missing file or a key
that does not belong to its certificate stops the start with one line naming the variable, instead of
the first handshake failing. Without a certificate everything stays plain HTTP and gRPC (the embedded
default on 127.0.0.1).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from servicekit.settings import ServiceSettings, SettingsError


@dataclass(frozen=True)
class Tls:
    """The TLS material of one process, read from its settings."""

    cert_file: Path | None = None
    key_file: Path | None = None
    cert: bytes | None = None
    key: bytes | None = None
    ca_file: Path | None = None
    ca: bytes | None = None
    """None: clients verify servers against the system's trusted roots."""
    client_auth: bool = False

    @property
    def serving(self) -> bool:
        """Whether this process's servers speak TLS."""
        return self.cert is not None

    @property
    def connecting(self) -> bool:
        """Whether this process reaches the internal gRPC services over TLS: when it was given a CA, or
        serves TLS itself (a platform serves TLS everywhere or nowhere; the CA may be the system's)."""
        return self.ca is not None or self.serving

    def server_credentials(self, *, require_client_cert: bool) -> grpc.ServerCredentials:
        """gRPC server credentials; `require_client_cert`: callers must present a certificate signed by
        the CA (mutual TLS)."""
        if self.cert is None or self.key is None:
            raise ValueError("TLS is off: no HYDRO_TLS_CERT_FILE")
        return grpc.ssl_server_credentials(
            [(self.key, self.cert)],
            root_certificates=self.ca if require_client_cert else None,
            require_client_auth=require_client_cert,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """gRPC channel credentials: verify the server against the CA (or the system's roots); present
        this process's certificate under mutual TLS."""
        if self.client_auth:
            return grpc.ssl_channel_credentials(
                root_certificates=self.ca, private_key=self.key, certificate_chain=self.cert
            )
        return grpc.ssl_channel_credentials(root_certificates=self.ca)

    def uvicorn_options(self) -> dict[str, Any]:
        """uvicorn's options for an HTTP server: TLS with this certificate; callers are not asked for one
        (the HTTP servers are public edges: the CLI, browsers and OIP clients call them)."""
        if self.cert_file is None:
            return {}
        return {"ssl_certfile": str(self.cert_file), "ssl_keyfile": str(self.key_file)}


PLAIN = Tls()
"""No TLS anywhere: plain HTTP and gRPC."""


def load_tls(settings: ServiceSettings) -> Tls:
    """The TLS files the settings name, read and checked; raise SettingsError naming the variable."""
    ca = _read(settings.tls_ca_file, "HYDRO_TLS_CA_FILE") if settings.tls_ca_file else None
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return Tls(ca_file=settings.tls_ca_file, ca=ca)
    cert = _read(settings.tls_cert_file, "HYDRO_TLS_CERT_FILE")
    key = _read(settings.tls_key_file, "HYDRO_TLS_KEY_FILE")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(
            settings.tls_cert_file, settings.tls_key_file
        )
    except (ssl.SSLError, ValueError) as exc:
        raise SettingsError(
            f"HYDRO_TLS_CERT_FILE={str(settings.tls_cert_file)!r} and HYDRO_TLS_KEY_FILE="
            f"{str(settings.tls_key_file)!r} are not a PEM certificate and its private key: {exc}"
        ) from None
    return Tls(
        cert_file=settings.tls_cert_file,
        key_file=settings.tls_key_file,
        cert=cert,
        key=key,
        ca_file=settings.tls_ca_file,
        ca=ca,
        client_auth=settings.tls_client_auth,
    )


def http_verify(settings: ServiceSettings) -> ssl.SSLContext | bool:
    """What an HTTP client (httpx `verify=`) checks `https://` servers against: the CA of
    `HYDRO_TLS_CA_FILE` when set, else the system's trusted roots (True)."""
    if settings.tls_ca_file is None:
        return True
    try:
        return ssl.create_default_context(cafile=str(settings.tls_ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(
            f"HYDRO_TLS_CA_FILE={str(settings.tls_ca_file)!r} is not a readable PEM CA certificate: {exc}"
        ) from None


def _read(path: Path, variable: str) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{variable}={str(path)!r} cannot be read: {exc.strerror}") from None
    if b"-----BEGIN " not in data:
        raise SettingsError(f"{variable}={str(path)!r} is not a PEM file")
    return data
