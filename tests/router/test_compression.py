"""Compressed bodies on the HTTP edge: gzip and deflate requests in, compressed answers out.

tritonclient.http's `request_compression_algorithm` and `response_compression_algorithm` work unchanged,
in JSON and with the binary tensor data extension (whose `Inference-Header-Content-Length` counts the
uncompressed header). Raw httpx calls show the headers and the refusals: a body too large once
decompressed (413 naming the limit), a corrupt or truncated body (400 naming the coding), and a coding
the router does not read (415). Replicas are real `python -m runtime` processes.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib

import numpy as np
import orjson
import pytest
import tritonclient.http as httpclient
import tritonclient.http.aio as aiohttpclient

from tests.router.harness import RouterUnderTest, StartRouter
from wire import datatypes

# Large enough that the answer (8 KB of FP64) is above the default compression threshold of 1 KiB.
X = np.linspace(-5.0, 5.0, 1000)
OIP_BODY = {"inputs": [{"name": "x", "datatype": "FP64", "shape": [1000], "data": X.tolist()}]}


def _input(array: np.ndarray, *, binary: bool) -> httpclient.InferInput:
    tensor = httpclient.InferInput("x", list(array.shape), datatypes.datatype_of(array))
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


@pytest.fixture
async def router(start_router: StartRouter) -> RouterUnderTest:
    return await start_router()


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
async def test_tritonclient_http_compresses_both_ways(router: RouterUnderTest, algorithm: str) -> None:
    address = f"127.0.0.1:{router.settings.router_http_port}"

    def calls() -> list[np.ndarray]:
        client = httpclient.InferenceServerClient(address)
        try:
            answers = []
            for binary in (True, False):
                result = client.infer(
                    "pipeline",
                    [_input(X, binary=binary)],
                    outputs=[httpclient.InferRequestedOutput("z", binary_data=binary)],
                    request_compression_algorithm=algorithm,
                    response_compression_algorithm=algorithm,
                )
                answers.append(result.as_numpy("z"))
            return answers
        finally:
            client.close()

    binary_answer, json_answer = await asyncio.to_thread(calls)
    aio = aiohttpclient.InferenceServerClient(address)
    try:
        aio_answer = (
            await aio.infer(
                "pipeline",
                [_input(X, binary=True)],
                request_compression_algorithm=algorithm,
                response_compression_algorithm=algorithm,
            )
        ).as_numpy("z")
    finally:
        await aio.close()

    for answer in (binary_answer, json_answer, aio_answer):
        np.testing.assert_array_equal(answer, X * 2 + 1)


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
async def test_a_binary_answer_is_compressed_whole_and_its_header_length_counts_the_plain_json(
    router: RouterUnderTest, algorithm: str
) -> None:
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "x", "datatype": "FP64", "shape": [1000], "parameters": {"binary_data_size": 8000}}
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
    )
    body = header + X.astype("<f8").tobytes()
    packed = gzip.compress(body) if algorithm == "gzip" else zlib.compress(body)

    response = await router.http.post(
        "/v2/models/double/infer",
        content=packed,
        headers={
            "Content-Encoding": algorithm,
            "Accept-Encoding": algorithm,
            "Inference-Header-Content-Length": str(len(header)),
        },
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-encoding"] == algorithm
    assert int(response.headers["content-length"]) < 8000  # the wire carried the compressed answer
    plain = response.content  # httpx decompressed it
    length = int(response.headers["inference-header-content-length"])
    answer = orjson.loads(plain[:length])
    assert answer["outputs"][0]["parameters"]["binary_data_size"] == 8000
    np.testing.assert_array_equal(np.frombuffer(plain[length:], "<f8"), X * 2)


async def test_small_answers_and_callers_that_refuse_compression_get_plain_bodies(
    router: RouterUnderTest,
) -> None:
    small = await router.http.post("/apps/double", json={"x": [1.0]}, headers={"Accept-Encoding": "gzip"})
    refused = await router.http.post(
        "/v2/models/double/infer", json=OIP_BODY, headers={"Accept-Encoding": "gzip;q=0, identity"}
    )
    preferred = await router.http.post(
        "/v2/models/double/infer", json=OIP_BODY, headers={"Accept-Encoding": "gzip;q=0.5, deflate"}
    )

    assert small.status_code == refused.status_code == preferred.status_code == 200
    assert "content-encoding" not in small.headers
    assert small.json() == {"y": [2.0]}
    assert "content-encoding" not in refused.headers
    assert refused.json()["outputs"][0]["data"] == (X * 2).tolist()
    assert preferred.headers["content-encoding"] == "deflate"
    assert preferred.json()["outputs"][0]["data"] == (X * 2).tolist()


async def test_the_size_limit_counts_the_decompressed_body(start_router: StartRouter) -> None:
    router = await start_router(router_max_message_bytes=64 * 1024)
    within = orjson.dumps({"x": [0.0] * 1000})  # 6 KB
    bomb = orjson.dumps({"x": [0.0] * 40_000})  # 160 KB of JSON, about 400 bytes gzipped

    ok = await router.http.post(
        "/apps/double", content=gzip.compress(within), headers={"Content-Encoding": "gzip"}
    )
    too_large = await router.http.post(
        "/apps/double", content=gzip.compress(bomb), headers={"Content-Encoding": "gzip"}
    )

    assert ok.status_code == 200, ok.text
    assert len(gzip.compress(bomb)) < 64 * 1024
    assert too_large.status_code == 413
    assert too_large.json() == {
        "error": "request body, decompressed from gzip, is larger than the limit of 65536 bytes "
        "(router_max_message_bytes)"
    }
    assert too_large.headers["x-request-id"]


async def test_a_corrupt_or_truncated_body_is_refused_naming_its_coding(router: RouterUnderTest) -> None:
    packed = gzip.compress(orjson.dumps(OIP_BODY))

    corrupt = await router.http.post(
        "/v2/models/double/infer", content=b"not gzip at all", headers={"Content-Encoding": "gzip"}
    )
    truncated = await router.http.post(
        "/v2/models/double/infer", content=packed[: len(packed) // 2], headers={"Content-Encoding": "gzip"}
    )
    not_deflate = await router.http.post(
        "/apps/double", content=b"\x00\x01\x02 garbage", headers={"Content-Encoding": "deflate"}
    )

    assert corrupt.status_code == 400
    assert corrupt.json()["error"].startswith("request body is not valid gzip data: ")
    assert truncated.status_code == 400
    assert truncated.json() == {
        "error": "request body is not valid gzip data: it ends before the stream does"
    }
    assert not_deflate.status_code == 400
    assert not_deflate.json()["error"].startswith("request body is not valid deflate data: ")
    assert router.scaler.activations == {}, "nothing woke a replica for a body that could not be read"


async def test_an_unknown_coding_is_refused_with_415(router: RouterUnderTest) -> None:
    response = await router.http.post(
        "/v2/models/double/infer", content=b"\x1b\x00", headers={"Content-Encoding": "br"}
    )

    assert response.status_code == 415
    assert response.json() == {
        "error": "Content-Encoding 'br' is not supported; send the body as gzip, deflate or identity"
    }
    assert response.headers["accept-encoding"] == "gzip, deflate"
    assert response.headers["x-request-id"]


async def test_errors_are_never_compressed(router: RouterUnderTest) -> None:
    response = await router.http.post(
        "/v2/models/nope/infer",
        content=gzip.compress(orjson.dumps(OIP_BODY)),
        headers={"Content-Encoding": "gzip", "Accept-Encoding": "gzip"},
    )

    assert response.status_code == 404
    assert "content-encoding" not in response.headers
    assert response.json() == {"error": "unknown application 'nope'"}
