"""`hydro up` over TLS: a user gives the platform a certificate from their own CA (here a test CA made by
trustme) and turns on mutual TLS between the services; everything a user calls is then https:// or gRPC
over TLS, works for a client that trusts the CA, and refuses one that does not.

One platform start (about a minute): the example deployed by `hydro up --example` itself, then
`hydro deploy` and `hydro invoke`, the printed curl line, tritonclient.http and tritonclient.grpc.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import pytest
import tritonclient.http as httpclient
import trustme
from tritonclient.utils import InferenceServerException

from protos.hydro.v1 import catalog_pb2, catalog_pb2_grpc
from tests.cli.conftest import copy_example
from tests.cli.test_up import REPO_ROOT, StartUp, start_up  # noqa: F401 (start_up is a fixture)

pytestmark = [pytest.mark.slow]

FRAUD = {"amount": [12.5, 900.0], "country": ["DE", "NG"]}


def write_certificates(folder: Path) -> dict[str, Path]:
    """A test CA and a certificate it signed for this machine's loopback names."""
    folder.mkdir(parents=True)
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    ca.cert_pem.write_to_path(str(files["ca"]))
    issued.private_key_pem.write_to_path(str(files["key"]))
    files["cert"].write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    return files


def hydro_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hydro", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )


def triton_grpc(address: str, ca_file: str, steps: list[dict[str, Any]]) -> list[Any]:
    """tritonclient.grpc in a process of its own (see `tests/e2e/triton_grpc.py`)."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.triton_grpc", address, ca_file],
        input=json.dumps(steps),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr
    result: list[Any] = json.loads(done.stdout)
    return result


INFER_FRAUD = {
    "call": "infer",
    "args": ["demo"],
    "inputs": {"amount": ["FP64", [2], FRAUD["amount"]], "country": ["BYTES", [2], FRAUD["country"]]},
}


def test_up_over_tls_serves_clients_that_trust_its_ca_and_refuses_the_others(
    start_up: StartUp,  # noqa: F811
    tmp_path: Path,
) -> None:
    files = write_certificates(tmp_path / "tls")
    up = start_up(
        "--example",
        HYDRO_TLS_CERT_FILE=str(files["cert"]),
        HYDRO_TLS_KEY_FILE=str(files["key"]),
        HYDRO_TLS_CA_FILE=str(files["ca"]),
        HYDRO_TLS_CLIENT_AUTH="true",
    )
    up.wait_for("serving until Ctrl-C", timeout=120)
    api = f"https://127.0.0.1:{up.env['HYDRO_CONTROL_PLANE_PORT']}"
    router = f"https://127.0.0.1:{up.env['HYDRO_ROUTER_HTTP_PORT']}"
    router_grpc = f"127.0.0.1:{up.env['HYDRO_ROUTER_GRPC_PORT']}"
    out = "\n".join(up.stdout)
    assert f"control plane  {api}" in out and f"router         {router}" in out
    assert f"{router}/apps/demo" in out  # the control plane's invoke URLs are https too

    # The printed curl line trusts the CA and calls the router over https.
    curl = shlex.split(next(line.strip() for line in up.stdout if line.strip().startswith("curl ")))
    assert curl[curl.index("--cacert") + 1] == str(files["ca"])
    trusting = ssl.create_default_context(cafile=str(files["ca"]))
    answer = httpx.post(
        curl[curl.index("-X") + 2],
        content=curl[curl.index("-d") + 1],
        headers={"Content-Type": "application/json"},
        verify=trusting,
        timeout=60,
    )
    assert answer.status_code == 200, answer.text + up.stderr()

    # The CLI, told the URLs and the CA: deploy a second model and invoke it.
    cli_env = {k: v for k, v in up.env.items() if not k.startswith("HYDRO_")}
    cli_env.update(
        HYDRO_HOME=str(up.home),  # the admin token `hydro up` wrote
        HYDRO_CONTROL_PLANE_URL=api,
        HYDRO_ROUTER_URL=router,
        HYDRO_TLS_CA_FILE=str(files["ca"]),
    )
    folder, model = copy_example("fraud-detector", tmp_path)
    deployed = hydro_cli(cli_env, "deploy", str(folder), "--app", "fraud-tls")
    assert deployed.returncode == 0, deployed.stderr + deployed.stdout + up.stderr()
    assert f"{router}/apps/fraud-tls" in deployed.stdout
    invoked = hydro_cli(cli_env, "invoke", "fraud-tls", "--json", json.dumps(FRAUD))
    assert invoked.returncode == 0, invoked.stderr
    scores = json.loads(invoked.stdout)["score"]
    assert len(scores) == 2 and all(0 < score < 1 for score in scores)

    # tritonclient.http and tritonclient.grpc, with the CA.
    client = httpclient.InferenceServerClient(
        router.removeprefix("https://"),
        ssl=True,
        ssl_context_factory=lambda: ssl.create_default_context(cafile=str(files["ca"])),
    )
    try:
        inputs = [
            httpclient.InferInput("amount", [2], "FP64"),
            httpclient.InferInput("country", [2], "BYTES"),
        ]
        inputs[0].set_data_from_numpy(np.array(FRAUD["amount"], dtype=np.float64))
        inputs[1].set_data_from_numpy(np.array(FRAUD["country"], dtype=np.object_))
        result = client.infer("demo", inputs)
        http_scores = result.as_numpy("score")
        assert http_scores is not None
        np.testing.assert_allclose(http_scores, scores)
    finally:
        client.close()
    (grpc_result,) = triton_grpc(router_grpc, str(files["ca"]), [INFER_FRAUD])
    np.testing.assert_allclose(grpc_result["outputs"]["score"], scores)

    # A client that does not trust the CA is refused, by every edge.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{api}/api/v1/health", timeout=10)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.post(f"{router}/apps/demo", json=FRAUD, timeout=10)
    untrusting = dict(cli_env)
    del untrusting["HYDRO_TLS_CA_FILE"]
    refused = hydro_cli(untrusting, "invoke", "fraud-tls", "--json", json.dumps(FRAUD))
    assert refused.returncode == 1
    assert refused.stderr == (
        f"error: {router} presented a certificate this client does not trust (unable to get local issuer "
        "certificate); set HYDRO_TLS_CA_FILE to the platform's CA certificate\n"
    )
    untrusting_http = httpclient.InferenceServerClient(router.removeprefix("https://"), ssl=True)
    try:
        with pytest.raises((InferenceServerException, ssl.SSLError)):
            untrusting_http.is_server_live()
    finally:
        untrusting_http.close()
    (untrusting_grpc,) = triton_grpc(router_grpc, "", [{"call": "is_server_live"}])
    assert untrusting_grpc["error"]["status"] == "StatusCode.UNAVAILABLE", untrusting_grpc
    # Plain HTTP to the TLS port gets no answer it could read.
    with pytest.raises(httpx.HTTPError):
        httpx.get(router.replace("https://", "http://") + "/v2/health/live", timeout=10)

    # The internal services: TLS with a client certificate (mutual TLS), then the service credential.
    with pytest.raises(grpc.RpcError) as no_client_cert:
        watch_catalog(up.env["HYDRO_CATALOG_PORT"], grpc.ssl_channel_credentials(files["ca"].read_bytes()))
    assert no_client_cert.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
    mutual = grpc.ssl_channel_credentials(
        files["ca"].read_bytes(), files["key"].read_bytes(), files["cert"].read_bytes()
    )
    with pytest.raises(grpc.RpcError) as no_credential:
        watch_catalog(up.env["HYDRO_CATALOG_PORT"], mutual)
    assert no_credential.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    token = (up.home / "service-token").read_text().strip()
    assert watch_catalog(up.env["HYDRO_CATALOG_PORT"], mutual, token).revision > 0

    assert up.stop(signal.SIGINT) == 0, up.stderr()
    # The router sampled to Sonar over mutual TLS with the credential: the invokes are in Parquet.
    samples = list((up.home / "objects" / "samples" / "fraud-detector" / "1").rglob("part-*.parquet"))
    assert samples, up.stderr()
    # No service was ever turned away; only this test's own call without the credential was.
    refused = re.findall(r"refused (\S+) from \S+: (.*)", up.stderr_path.read_text())
    assert refused == [("/hydro.v1.Catalog/Watch", "no `authorization` metadata was sent")], up.stderr()


def watch_catalog(
    port: str, credentials: grpc.ChannelCredentials, token: str | None = None
) -> catalog_pb2.Snapshot:
    """The first snapshot of the control plane's catalog watch, as a service would follow it."""
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        stub = catalog_pb2_grpc.CatalogStub(channel)  # type: ignore[no-untyped-call]
        stream = stub.Watch(catalog_pb2.WatchRequest(client="tls-test"), metadata=metadata, timeout=10)
        snapshot: catalog_pb2.Snapshot = next(stream)
        stream.cancel()
        return snapshot
