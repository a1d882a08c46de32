"""TLS files are checked when a service starts: a file that cannot be used stops it with one line naming the
variable, before any handshake could fail."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme

from servicekit.settings import ServiceSettings, SettingsError
from servicekit.tls import http_verify, load_tls


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    other = ca.issue_cert("localhost")
    paths = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key", "other_key")}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    issued.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    issued.private_key_pem.write_to_path(str(paths["key"]))
    other.private_key_pem.write_to_path(str(paths["other_key"]))
    return paths


def test_a_certificate_its_key_and_a_ca_turn_tls_on(files: dict[str, Path]) -> None:
    tls = load_tls(
        ServiceSettings(
            tls_cert_file=files["cert"],
            tls_key_file=files["key"],
            tls_ca_file=files["ca"],
            tls_client_auth=True,
        )
    )
    assert tls.serving and tls.connecting and tls.client_auth
    assert tls.uvicorn_options() == {"ssl_certfile": str(files["cert"]), "ssl_keyfile": str(files["key"])}


def test_without_files_everything_stays_plain() -> None:
    tls = load_tls(ServiceSettings())
    assert not tls.serving and not tls.connecting and tls.uvicorn_options() == {}
    assert http_verify(ServiceSettings()) is True


def test_a_ca_alone_makes_a_client_connect_over_tls(files: dict[str, Path]) -> None:
    tls = load_tls(ServiceSettings(tls_ca_file=files["ca"]))
    assert tls.connecting and not tls.serving


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"tls_cert_file": "missing.pem", "tls_key_file": "key"},
            "HYDRO_TLS_CERT_FILE='{dir}/missing.pem' cannot be read: No such file or directory",
        ),
        (
            {"tls_cert_file": "cert", "tls_key_file": "ca.txt"},
            "HYDRO_TLS_KEY_FILE='{dir}/ca.txt' is not a PEM file",
        ),
        (
            {"tls_cert_file": "cert", "tls_key_file": "key", "tls_ca_file": "missing.pem"},
            "HYDRO_TLS_CA_FILE='{dir}/missing.pem' cannot be read: No such file or directory",
        ),
        (
            {"tls_cert_file": "cert", "tls_key_file": "other_key"},
            "HYDRO_TLS_CERT_FILE='{dir}/cert.pem' and HYDRO_TLS_KEY_FILE='{dir}/other_key.pem' are not a PEM "
            "certificate and its private key: [X509: KEY_VALUES_MISMATCH] key values mismatch",
        ),
    ],
)
def test_a_file_that_cannot_be_used_is_named(
    files: dict[str, Path], tmp_path: Path, fields: dict[str, str], message: str
) -> None:
    (tmp_path / "ca.txt").write_text("not a key\n")
    settings = ServiceSettings(**{name: files.get(value, tmp_path / value) for name, value in fields.items()})
    with pytest.raises(SettingsError) as refused:
        load_tls(settings)
    assert str(refused.value).startswith(message.format(dir=tmp_path)), refused.value


def test_an_unreadable_ca_is_named_by_http_clients_too(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"^HYDRO_TLS_CA_FILE='.*/nope.pem' is not a readable PEM CA"):
        http_verify(ServiceSettings(tls_ca_file=tmp_path / "nope.pem"))
