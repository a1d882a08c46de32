"""The ready-to-paste curl line `hydro deploy` prints: one row of each input, of its datatype and shape."""

from __future__ import annotations

import json
import shlex

from hydro.deploy import curl_line, example_body


def test_the_example_body_has_one_row_of_every_input_in_its_datatype_and_shape() -> None:
    signature = {
        "inputs": [
            {"name": "amount", "datatype": "FP64", "shape": [-1]},
            {"name": "country", "datatype": "BYTES", "shape": [-1]},
            {"name": "pixels", "datatype": "UINT8", "shape": [-1, 2, 3]},
            {"name": "flags", "datatype": "BOOL", "shape": [-1, 2]},
        ],
        "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1]}],
    }
    assert example_body(signature) == {
        "amount": [1.0],
        "country": ["text"],
        "pixels": [[[1, 1, 1], [1, 1, 1]]],
        "flags": [[True, True]],
    }


def test_the_curl_line_survives_a_shell_even_with_quotes_in_names() -> None:
    signature = {"inputs": [{"name": "it's", "datatype": "INT64", "shape": [-1]}]}
    words = shlex.split(curl_line("http://127.0.0.1:8081/apps/demo", signature))
    assert words[:4] == ["curl", "-s", "-X", "POST"]
    assert words[4] == "http://127.0.0.1:8081/apps/demo"
    assert json.loads(words[-1]) == {"it's": [1]}
