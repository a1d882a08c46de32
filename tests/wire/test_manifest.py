"""hydro.json read into a typed record (`wire.manifest`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.models import manifest
from wire.manifest import Manifest, PackageError, read_manifest


def test_a_valid_manifest_is_read_into_a_typed_record(tmp_path: Path) -> None:
    (tmp_path / "hydro.json").write_text(json.dumps({**manifest(), "added_later": True}))
    read = read_manifest(tmp_path)
    assert (read.name, read.version, read.runtime) == ("scoring", 1, "python3.11")
    assert (read.module, read.attr) == ("model", "Scorer")
    assert [spec.name for spec in read.signature.inputs] == ["amount", "country", "count"]
    assert read.requirements is None and read.metadata == {"team": "tests"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Fraud_Detector"}, "name 'Fraud_Detector' must be 1 to 63 characters"),
        ({"version": 0}, "version must be an integer >= 1"),
        ({"version": "3"}, "version must be an integer, got str"),
        ({"version": True}, "version must be an integer, got bool"),
        ({"entrypoint": "model.Model"}, "entrypoint 'model.Model' must look like 'module:Class'"),
        ({"entrypoint": None}, "missing required key 'entrypoint'"),
        ({"runtime": ""}, "runtime must not be empty"),
        ({"signature": {"inputs": [], "outputs": []}}, "signature.inputs: must be a non-empty list"),
        ({"metadata": [1]}, "metadata must be an object"),
        ({"requirements": 3}, "requirements must be a string or null"),
    ],
)
def test_bad_manifest_fields_are_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(PackageError, match=message.replace(".", r"\.")):
        Manifest.from_dict({**manifest(), **change})


def test_a_manifest_that_is_not_json_is_refused_with_the_place(tmp_path: Path) -> None:
    (tmp_path / "hydro.json").write_text('{"name": ')
    with pytest.raises(PackageError, match="hydro.json is not valid JSON: .* at line 1, column 10"):
        read_manifest(tmp_path)
