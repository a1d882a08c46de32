"""How Terraform starts a provider (HashiCorp go-plugin): check the magic cookie, serve gRPC on a Unix
socket, print the handshake line on stdout, serve until Terraform asks the plugin to stop.

Terraform announces TLS by sending its own certificate in `PLUGIN_CLIENT_CERT` ("AutoMTLS") and then
dials the plugin over TLS: the plugin makes a throwaway self-signed certificate for `localhost` and gives
it in the handshake (base64 DER, no padding). The key is made fresh at each start and never written to
disk, so nothing is cached under HOME (an EC P-256 key and certificate take a few milliseconds).

The plugin does not demand Terraform's certificate back: seen here, Terraform 1.15 (Go) then sends none
and every call fails with PEER_DID_NOT_RETURN_A_CERTIFICATE (its P-521 certificate is not among the
signature algorithms gRPC's BoringSSL asks for). Who may connect is decided by the socket instead: it
lies in a fresh directory only this user can enter (mode 0700).
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc

MAGIC_COOKIE_KEY = "TF_PLUGIN_MAGIC_COOKIE"
MAGIC_COOKIE_VALUE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"
CORE_PROTOCOL_VERSION = 1
PROTOCOL_VERSION = 6
NOT_A_COMMAND = (
    "terraform-provider-hydro is a Terraform provider: Terraform starts it. Point Terraform at it with a CLI "
    'config block: provider_installation { dev_overrides { "hydro/hydro" = "<the folder holding '
    'terraform-provider-hydro>" } direct {} }\n'
)


@dataclass(frozen=True)
class Certificate:
    cert_pem: bytes
    key_pem: bytes
    cert_der: bytes


def self_signed() -> Certificate:
    """A certificate for `localhost`, valid for a day, that is also its own CA (as go-plugin's is)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "HashiCorp"),
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
        ]
    )
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=True,
                key_cert_sign=True,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    return Certificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert_der=cert.public_bytes(serialization.Encoding.DER),
    )


def serve(register: Callable[[grpc.Server, threading.Event], None]) -> int:
    """Serve the services `register` adds until Terraform shuts the plugin down; the exit code."""
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write(NOT_A_COMMAND)
        return 1
    offered = os.environ.get("PLUGIN_PROTOCOL_VERSIONS", str(PROTOCOL_VERSION)).split(",")
    if str(PROTOCOL_VERSION) not in [v.strip() for v in offered]:
        sys.stderr.write(
            f"this provider speaks plugin protocol {PROTOCOL_VERSION}; Terraform offered {offered}\n"
        )
        return 1
    stop = threading.Event()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    register(server, stop)
    with tempfile.TemporaryDirectory(prefix="hydro-tf-") as folder:  # 0700: only this user reaches it
        socket = os.path.join(folder, "plugin.sock")
        client_cert = os.environ.get("PLUGIN_CLIENT_CERT", "").encode()
        cert_field = ""
        if client_cert:
            mine = self_signed()
            credentials = grpc.ssl_server_credentials([(mine.key_pem, mine.cert_pem)])
            server.add_secure_port(f"unix:{socket}", credentials)
            cert_field = base64.b64encode(mine.cert_der).decode().rstrip("=")
        else:
            server.add_insecure_port(f"unix:{socket}")
        server.start()
        handshake = f"{CORE_PROTOCOL_VERSION}|{PROTOCOL_VERSION}|unix|{socket}|grpc|{cert_field}\n"
        sys.stdout.write(handshake)
        sys.stdout.flush()
        stop.wait()
        server.stop(grace=1).wait()
    return 0
