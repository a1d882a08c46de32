"""Fuzzing the invoke: random and malformed requests at a real router never get a 5xx, a hang or a crash.

`hypothesis` throws bodies at `POST /v2/models/double/infer` (OIP JSON and the binary tensor data
extension: lying `Inference-Header-Content-Length`, NaN and Infinity, huge shapes, deep nesting, many
tensors), at the plain form `POST /apps/double` and at gRPC `ModelInfer` (random messages: raw contents of
random sizes, wrong datatypes, shape overflows). Every answer is a 4xx / INVALID_ARGUMENT, or a 200 / OK
whose `y` is twice the `x` sent: the router answers only what the reference decoders of `wire/` read
the same way, and the replica (a real `python -m runtime` of `models.DOUBLE`) doubles it. Afterwards the
router still answers a good request and its health checks.

Hypothesis raises the interpreter's recursion limit while it runs, and the router shares the process:
JSON data nested 1000 deep, which exhausted the default limit of 1000 frames in the router's flattening,
passes here either way; `test_bad_input.py` keeps that case, outside hypothesis.

The examples are derandomized (the same run every time; no `.hypothesis` in the repository: no database,
and hypothesis's caches go to the test's tmp_path); `HYDRO_FUZZ_EXAMPLES` multiplies them for a longer
run by hand. Hypothesis runs in a worker thread with
blocking clients, while the router serves in the test's event loop. The number of inputs tried is printed.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import time
from pathlib import Path
from typing import Any

import grpc
import httpx
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc as pb_grpc
from tests.router.harness import RouterUnderTest, StartRouter
from wire import oip_grpc, oip_json, plain_form
from wire.datatypes import DATATYPES
from wire.raw_contents import from_raw
from wire.signature import Signature

pytestmark = pytest.mark.slow

SIGNATURE = Signature.from_dict(
    {
        "inputs": [{"name": "x", "datatype": "FP64", "shape": [-1]}],
        "outputs": [{"name": "y", "datatype": "FP64", "shape": [-1]}],
    }
)
HEADER_LENGTH = "Inference-Header-Content-Length"
SCALE = float(os.environ.get("HYDRO_FUZZ_EXAMPLES", "1"))


def _settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# -- strategies -----------------------------------------------------------------------------------

FINITE = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)
ANY_FLOAT = st.floats(width=64)
NAMES = st.sampled_from(["x", "y", "", "X", "x\u00e9"]) | st.text(max_size=4)
DATATYPE_NAMES = st.sampled_from(sorted(DATATYPES) + ["FLOAT", "fp64", "", "INT128"])
DIMENSION = st.integers(-2, 4) | st.integers(-(2**63), 2**64) | st.sampled_from([2**31, 2**32, 2**62])
SHAPES = st.lists(DIMENSION, max_size=5) | st.lists(st.integers(0, 3), min_size=30, max_size=70)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | ANY_FLOAT | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


def _junk_or(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, strategy, strategy, JSON)


@st.composite
def oip_tensors(draw: st.DrawFn) -> dict[str, Any]:
    """An input that is often nearly right: each field valid or junk."""
    tensor: dict[str, Any] = {}
    for key, strategy in (
        ("name", NAMES),
        ("datatype", DATATYPE_NAMES),
        ("shape", SHAPES | st.lists(st.integers(0, 8), min_size=1, max_size=2)),
        (
            "data",
            st.lists(ANY_FLOAT | st.integers(-(2**70), 2**70) | st.sampled_from([1e39, 7e4]), max_size=8),
        ),
        ("parameters", st.fixed_dictionaries({"binary_data_size": st.integers(-2, 2**64)})),
    ):
        if draw(st.integers(0, 5)):
            tensor[key] = draw(_junk_or(strategy))
    return tensor


@st.composite
def oip_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    inputs = st.lists(oip_tensors(), max_size=3)
    many = st.integers(200, 400).map(
        lambda n: [{"name": f"t{i}", "datatype": "BOOL", "shape": [0], "data": []} for i in range(n)]
    )
    if draw(st.integers(0, 9)):
        body["inputs"] = draw(st.one_of(inputs, inputs, inputs, many, JSON))
    if draw(st.booleans()):
        body["outputs"] = draw(_junk_or(st.lists(st.fixed_dictionaries({"name": NAMES}), max_size=3)))
    if draw(st.booleans()):
        body["parameters"] = draw(_junk_or(st.fixed_dictionaries({"binary_data_output": st.booleans()})))
    if draw(st.booleans()):
        body["id"] = draw(_junk_or(st.text(max_size=8)))
    return body


def _deeply_nested(depth: int, inner: str = "1.0") -> str:
    return "[" * depth + inner + "]" * depth


DEPTHS = st.sampled_from([33, 65, 990, 1000, 1024, 1025]) | st.integers(2, 1100)
DEEP_OIP = DEPTHS.map(
    lambda d: (
        '{"inputs": [{"name": "x", "datatype": "FP64", "shape": [1], "data": ' + _deeply_nested(d) + "}]}"
    )
)
DEEP_PLAIN = DEPTHS.map(lambda d: '{"x": ' + _deeply_nested(d) + "}")
# json.dumps writes NaN and Infinity as the bare words JSON does not have.
OIP_TEXT = st.one_of(DEEP_OIP, oip_bodies().map(json.dumps), JSON.map(json.dumps), st.text(max_size=40))
PLAIN_TEXT = st.one_of(
    DEEP_PLAIN,
    st.dictionaries(NAMES, JSON | st.lists(ANY_FLOAT, max_size=6), max_size=3).map(json.dumps),
    st.fixed_dictionaries({"x": st.lists(st.lists(FINITE, max_size=3), max_size=3)}).map(json.dumps),
    JSON.map(json.dumps),
)
LENGTH_HEADERS = st.one_of(
    st.integers(-5, 300).map(str),
    st.sampled_from(["", "1e3", "1 2", "0x10", "\u00b2", "9" * 30, "9" * 5000]),
)


@st.composite
def binary_requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str]]:
    """A binary extension body: a JSON header (often with binary_data_size), raw data, and a length
    header that is right, or a lie."""
    header = draw(oip_bodies())
    if draw(st.booleans()):
        raw = np.array(draw(st.lists(ANY_FLOAT, max_size=6)), dtype="<f8").tobytes()
        size = draw(st.sampled_from([len(raw), len(raw) + 8, max(len(raw) - 3, 0)]))
        header["inputs"] = [
            {
                "name": "x",
                "datatype": "FP64",
                "shape": [len(raw) // 8],
                "parameters": {"binary_data_size": size},
            }
        ]
    else:
        raw = draw(st.binary(max_size=64))
    head = json.dumps(header).encode()
    length = draw(st.one_of(st.just(str(len(head))), st.just(str(len(head))), LENGTH_HEADERS))
    return head + raw, {HEADER_LENGTH: length, "content-type": "application/octet-stream"}


@st.composite
def valid_oip(draw: st.DrawFn) -> tuple[bytes, dict[str, str], np.ndarray]:
    """A right request, in JSON or the binary extension, with its x."""
    if draw(st.booleans()):
        xs = np.array(draw(st.lists(FINITE, max_size=12)), dtype="<f8")
        body: dict[str, Any] = {
            "inputs": [{"name": "x", "datatype": "FP64", "shape": [len(xs)], "data": xs.tolist()}]
        }
        if draw(st.booleans()):
            body["outputs"] = [{"name": "y", "parameters": {"binary_data": draw(st.booleans())}}]
        return orjson.dumps(body), {"content-type": "application/json"}, xs
    xs = np.array(draw(st.lists(ANY_FLOAT, max_size=12)), dtype="<f8")
    header, raw = oip_binary_request(xs, draw(st.booleans()))
    return header + raw, {HEADER_LENGTH: str(len(header))}, xs


def oip_binary_request(xs: np.ndarray, binary_output: bool) -> tuple[bytes, bytes]:
    from wire.oip_binary import encode_binary_request

    header, raw = encode_binary_request({"x": xs}, binary_output=binary_output)
    return orjson.dumps(header), raw


CONTENTS_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "bool_contents": st.lists(st.booleans(), max_size=6),
    "int_contents": st.lists(st.integers(-(2**31), 2**31 - 1), max_size=6),
    "int64_contents": st.lists(st.integers(-(2**63), 2**63 - 1), max_size=6),
    "uint_contents": st.lists(st.integers(0, 2**32 - 1), max_size=6),
    "uint64_contents": st.lists(st.integers(0, 2**64 - 1), max_size=6),
    "fp32_contents": st.lists(st.floats(width=32), max_size=6),
    "fp64_contents": st.lists(ANY_FLOAT, max_size=6),
    "bytes_contents": st.lists(st.binary(max_size=6), max_size=6),
}
INT64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def grpc_requests(draw: st.DrawFn) -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="double", id=draw(st.text(max_size=6)))
    raw = draw(st.booleans())
    if draw(st.integers(0, 19)) == 0:  # many tensors
        for i in range(draw(st.integers(200, 400))):
            request.inputs.add(name=f"t{i}", datatype="BOOL", shape=[0])
            if raw:
                request.raw_input_contents.append(b"")
        return request
    count = draw(st.integers(0, 3))
    for _ in range(count):
        shape = draw(
            st.lists(st.integers(-2, 6) | INT64, max_size=4)
            | st.lists(st.integers(0, 2), min_size=30, max_size=70)
        )
        tensor = request.inputs.add(name=draw(NAMES), datatype=draw(DATATYPE_NAMES), shape=shape)
        if raw:
            request.raw_input_contents.append(draw(st.binary(max_size=64)))
        else:
            field = draw(st.sampled_from(sorted(CONTENTS_FIELDS)))
            getattr(tensor.contents, field).extend(draw(CONTENTS_FIELDS[field]))
        if draw(st.integers(0, 9)) == 0:
            tensor.parameters["shared_memory_region"].string_param = "region"
    if raw and draw(st.booleans()):
        request.raw_input_contents.append(b"\x00" * draw(st.integers(0, 16)))  # one too many
    for name in draw(st.lists(NAMES, max_size=2)):
        request.outputs.add(name=name)
    return request


@st.composite
def valid_grpc(draw: st.DrawFn) -> tuple[pb.ModelInferRequest, np.ndarray]:
    xs = np.array(draw(st.lists(ANY_FLOAT, max_size=12)), dtype="<f8")
    if draw(st.booleans()):
        return oip_grpc.encode_infer_request("double", {"x": xs}), xs
    request = pb.ModelInferRequest(model_name="double")
    request.inputs.add(name="x", datatype="FP64", shape=[len(xs)]).contents.fp64_contents.extend(xs.tolist())
    return request, xs


# -- what an answer must be -----------------------------------------------------------------------


def answered_y(response: httpx.Response) -> np.ndarray:
    """The `y` of an OIP answer, JSON or binary extension (JSON writes NaN and infinities as null)."""
    body = response.content
    length = response.headers.get(HEADER_LENGTH)
    head = orjson.loads(body[: int(length)] if length else body)
    [output] = head["outputs"]
    assert output["name"] == "y" and output["datatype"] == "FP64"
    if "data" in output:
        return np.array([np.nan if v is None else v for v in output["data"]], dtype="<f8")
    assert length is not None
    return from_raw(body[int(length) :], "FP64", tuple(output["shape"]), "y")


def assert_doubled(y: np.ndarray, x: np.ndarray, *, json_answer: bool) -> None:
    with np.errstate(over="ignore"):
        expected = x * 2
    if json_answer:
        expected = np.where(np.isfinite(expected), expected, np.nan)
    np.testing.assert_array_equal(y, expected)


def reference_x(decode: Any) -> np.ndarray | None:
    """x as the reference decoders read a request, or None when they refuse it (or the signature does)."""
    try:
        arrays = decode()
        SIGNATURE.check_inputs(arrays)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None
    x: np.ndarray = arrays["x"]
    return x


def _reference_oip(body: bytes, headers: dict[str, str]) -> np.ndarray | None:
    def decode() -> dict[str, np.ndarray]:
        binary = None
        head = body
        if HEADER_LENGTH in headers:
            text = headers[HEADER_LENGTH]
            if not (text.isascii() and text.isdigit()) or int(text) > len(body):
                raise ValueError
            head, binary = body[: int(text)], body[int(text) :]
        parsed = orjson.loads(head)
        outputs = oip_json.decode_json_outputs(parsed)
        if any(name != "y" for name in outputs.names):
            raise ValueError
        return oip_json.decode_json_request(parsed, binary=binary)[0]

    return reference_x(decode)


def check_http(response: httpx.Response, x: np.ndarray | None) -> None:
    """A 4xx, or a 200 answering twice the x the reference decoders read (None: they refused it)."""
    assert response.status_code in (200, 400, 413, 415), (response.status_code, response.text[:300])
    if response.status_code != 200:
        assert "error" in response.json()
        return
    assert x is not None, f"the router answered a request the reference refuses: {response.text[:300]}"
    if response.request.url.path.startswith("/apps/"):
        y = np.array([np.nan if v is None else v for v in response.json()["y"]], dtype="<f8")
    else:
        y = answered_y(response)
    binary = (
        HEADER_LENGTH in response.headers
        and "data" not in orjson.loads(response.content[: int(response.headers[HEADER_LENGTH])])["outputs"][0]
    )
    assert_doubled(y, x.reshape(-1), json_answer=not binary)


def check_grpc(call: Any, request: pb.ModelInferRequest) -> None:
    try:
        response = call(request, timeout=30)
    except grpc.RpcError as error:
        code = error.code()
        assert code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED), (
            code,
            error.details(),
        )
        return
    x = reference_x(lambda: oip_grpc.decode_infer_request(request))
    assert x is not None, f"the router answered a request the reference refuses: {request}"
    assert all(output.name == "y" for output in request.outputs)
    y = oip_grpc.decode_infer_response(response)["y"]
    assert_doubled(y, x.reshape(-1), json_answer=False)


# -- the run --------------------------------------------------------------------------------------


def _latin1(headers: dict[str, str]) -> dict[str, bytes]:
    return {name: value.encode("latin-1") for name, value in headers.items()}


def fuzz(router: RouterUnderTest, tried: collections.Counter[str], seconds: dict[str, float]) -> None:
    """Every hypothesis run, with blocking clients (this runs on a worker thread)."""
    base = str(router.http.base_url)
    with (
        httpx.Client(base_url=base, timeout=30) as http,
        grpc.insecure_channel(router.grpc_address) as channel,
    ):
        infer = pb_grpc.GRPCInferenceServiceStub(channel).ModelInfer  # type: ignore[no-untyped-call]

        @_settings(300)
        @given(valid_oip())
        def right_oip(case: tuple[bytes, dict[str, str], np.ndarray]) -> None:
            body, headers, x = case
            tried["valid http"] += 1
            response = http.post("/v2/models/double/infer", content=body, headers=_latin1(headers))
            assert response.status_code == 200, response.text
            check_http(response, x)

        @_settings(900)
        @given(OIP_TEXT)
        def wrong_oip(text: str) -> None:
            tried["oip json"] += 1
            body = text.encode()
            headers = {"content-type": "application/json"}
            check_http(
                http.post("/v2/models/double/infer", content=body, headers=_latin1(headers)),
                _reference_oip(body, headers),
            )

        @_settings(600)
        @given(binary_requests())
        def wrong_binary(case: tuple[bytes, dict[str, str]]) -> None:
            tried["oip binary"] += 1
            body, headers = case
            check_http(
                http.post("/v2/models/double/infer", content=body, headers=_latin1(headers)),
                _reference_oip(body, headers),
            )

        @_settings(450)
        @given(PLAIN_TEXT)
        def wrong_plain(text: str) -> None:
            tried["plain"] += 1
            x = reference_x(lambda: plain_form.decode_plain_request(orjson.loads(text), SIGNATURE))
            check_http(http.post("/apps/double", content=text.encode()), x)

        @_settings(250)
        @given(valid_grpc())
        def right_grpc(case: tuple[pb.ModelInferRequest, np.ndarray]) -> None:
            tried["valid grpc"] += 1
            request, x = case
            assert_doubled(
                oip_grpc.decode_infer_response(infer(request, timeout=30))["y"], x, json_answer=False
            )

        @_settings(900)
        @given(grpc_requests())
        def wrong_grpc(request: pb.ModelInferRequest) -> None:
            tried["grpc"] += 1
            check_grpc(infer, request)

        for run in (right_oip, wrong_oip, wrong_binary, wrong_plain, right_grpc, wrong_grpc):
            start = time.monotonic()
            run()
            seconds[run.__name__] = round(time.monotonic() - start, 1)


async def test_random_and_malformed_invokes_get_4xx_or_the_right_answer(
    start_router: StartRouter, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    router = await start_router(router_request_log_level="WARNING", http_body_timeout_s=1.0)
    # The first request wakes the replica; the fuzzing then runs against a warm one.
    first = await router.http.post("/apps/double", json={"x": [1.0]})
    assert first.json() == {"y": [2.0]}
    tried: collections.Counter[str] = collections.Counter()

    seconds: dict[str, float] = {}
    set_hypothesis_home_dir(tmp_path / "hypothesis")  # its caches (constants, Unicode tables) not in the repo
    try:
        await asyncio.to_thread(fuzz, router, tried, seconds)
    finally:
        set_hypothesis_home_dir(None)

    with capsys.disabled():
        print(f"\nfuzzed the invoke with {sum(tried.values())} inputs: {dict(tried)}, seconds: {seconds}")
    assert (await router.http.post("/apps/double", json={"x": [2.5]})).json() == {"y": [5.0]}
    for path in ("/v2/health/live", "/v2/health/ready"):
        assert (await router.http.get(path)).status_code == 200
    answer = await router.inference.ModelInfer(
        oip_grpc.encode_infer_request("double", {"x": np.array([3.0])}), timeout=10
    )
    assert oip_grpc.decode_infer_response(answer)["y"].tolist() == [6.0]
    # At WARNING the router writes a request line only for a server fault (5xx, INTERNAL, UNAVAILABLE).
    assert not [line for line in capsys.readouterr().err.splitlines() if '"logger":"router.requests"' in line]
