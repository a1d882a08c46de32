"""A signature parses from hydro.yaml, and tensors are checked against it by name, type and shape."""

import numpy as np
import pytest

from wire.signature import Signature, SignatureError

SIGNATURE = {
    "inputs": [
        {"name": "amount", "datatype": "FP64", "shape": [-1]},
        {"name": "country", "datatype": "BYTES", "shape": [-1], "profile": "categorical"},
    ],
    "outputs": [{"name": "score", "datatype": "FP64", "shape": [-1, 2]}],
}


def test_round_trips_through_dict_and_proto() -> None:
    signature = Signature.from_dict(SIGNATURE)
    assert signature.to_dict() == SIGNATURE
    assert Signature.from_proto(signature.to_proto()) == signature


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.pop("inputs"), "signature.inputs: must be a non-empty list"),
        (lambda s: s["inputs"][1].update(datatype="STRING"), r"signature.inputs\[1\].datatype: 'STRING'"),
        (lambda s: s["inputs"][0].update(shape=[-2]), r"signature.inputs\[0\].shape: -2"),
        (lambda s: s["inputs"][0].update(name=""), r"signature.inputs\[0\].name"),
        (lambda s: s["outputs"].append(dict(s["outputs"][0])), "'score' is used twice"),
        (lambda s: s.update(extra=1), "unknown key"),
    ],
)
def test_bad_signatures_name_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = {
        "inputs": [dict(t) for t in SIGNATURE["inputs"]],
        "outputs": [dict(t) for t in SIGNATURE["outputs"]],
    }
    mutate(data)
    with pytest.raises(SignatureError, match=message):
        Signature.from_dict(data)


def test_inputs_are_checked_by_name_datatype_and_shape() -> None:
    signature = Signature.from_dict(SIGNATURE)
    good = {"amount": np.array([1.0]), "country": np.array([b"DE"], dtype=object)}
    signature.check_inputs(good)
    with pytest.raises(SignatureError, match="missing input 'country'"):
        signature.check_inputs({"amount": np.array([1.0])})
    with pytest.raises(SignatureError, match="unexpected input 'other'"):
        signature.check_inputs({**good, "other": np.array([1.0])})
    with pytest.raises(SignatureError, match="input 'amount': expected datatype FP64, got INT64"):
        signature.check_inputs({**good, "amount": np.array([1])})
    with pytest.raises(SignatureError, match="input 'amount'.*rank 2 instead of 1"):
        signature.check_inputs({**good, "amount": np.array([[1.0]])})
    with pytest.raises(SignatureError, match="output 'score'.*axis 1 must be 2"):
        signature.check_outputs({"score": np.zeros((3, 3))})


def test_outputs_a_request_asks_for_must_be_outputs_of_the_signature() -> None:
    """The one check the router (per application) and the runtime (per model) make of `outputs`."""
    signature = Signature.from_dict(SIGNATURE)
    signature.check_requested(["score"], "the model")
    signature.check_requested([], "the model")
    with pytest.raises(
        SignatureError, match=r"^requested output 'probability' is not one of the model's outputs: score$"
    ):
        signature.check_requested(["score", "probability"], "the model")
