"""The reference of a model version: which fields Sonar profiles, and how the training data looks.

A reference is built once per version, from the ``training_data`` file (CSV or Parquet, or a folder of
them) inside the version's package (read in place by ``wire.package``, with its checks and limits), and
stored in the object store next to nothing else (keys from ``servicekit.object_keys``):

- ``profiles/{model}/{version}/profile.json``: the features (name, role, kind or why skipped) and the
  reference profile of every feature the training data holds (:mod:`sonar.profile`);
- ``profiles/{model}/{version}/reference.npz``: the sorted non-null values of the numeric features
  (:func:`sonar.profile.reference_values`), which Kolmogorov–Smirnov and Wasserstein need; stored sorted,
  they are never sorted again by a job (bin-based statistics read only the profile).

Later jobs read these two objects and never the package again. Two workers building the same reference
at once write the same bytes, so the race is harmless.

Feature typing, from each signature field:

- ``profile: none``, ``text`` or ``image``: not profiled;
- more than one value per batch item (shape ``[-1, 3]``, ``[-1, -1]``): not profiled (a tensor per item
  has no single distribution to compare; the report lists it with that reason);
- ``profile: numeric`` or ``categorical``: as stated;
- no profile (auto): categorical for BYTES and BOOL, numeric for every other datatype.

Outputs are profiled like inputs (prediction drift). A field the training data lacks (typically the
model's own outputs) is reported as "no reference". The Parquet samples name an output ``output.{name}``
when an input has the same name; the training data is looked up under the same column name.
"""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from servicekit.object_keys import profile_key, reference_values_key
from servicekit.object_store import ObjectNotFound, ObjectStore
from sonar.errors import InvalidRequest
from sonar.profile import (
    FeatureKind,
    FeatureProfile,
    profile_feature,
    profiles_from_dict,
    profiles_to_dict,
    reference_values,
    reference_values_from_bytes,
    reference_values_to_bytes,
)
from wire.manifest import Manifest, PackageError
from wire.package import Limits, PackageArchive

Role = Literal["input", "output"]

REFERENCE_FORMAT = 1

_NOT_PROFILED = {"none": "profile: none", "text": "profile: text", "image": "profile: image"}
_CATEGORICAL_DATATYPES = frozenset({"BYTES", "BOOL"})


@dataclass(frozen=True)
class Feature:
    """One signature field as a drift job sees it.

    ``column`` is its column in the Parquet samples and in the training data; ``kind`` is None when the
    field is not profiled, and ``note`` then says why.
    """

    name: str
    column: str
    role: Role
    datatype: str
    kind: FeatureKind | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "column": self.column,
            "role": self.role,
            "datatype": self.datatype,
            "kind": self.kind,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Feature:
        role = data["role"]
        kind = data.get("kind")
        if role not in ("input", "output") or kind not in (None, "numeric", "categorical"):
            raise ValueError(f"bad feature entry {dict(data)!r}")
        return cls(
            name=str(data["name"]),
            column=str(data["column"]),
            role=role,
            datatype=str(data["datatype"]),
            kind=kind,
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class Reference:
    """The features of a version, the reference profile of those the training data holds, and the raw
    reference values of its numeric features (by column name)."""

    features: tuple[Feature, ...]
    profiles: Mapping[str, FeatureProfile]
    values: Mapping[str, npt.NDArray[np.float64]] = field(default_factory=dict)
    rows: int = 0
    source: str = ""

    @property
    def profiled(self) -> list[Feature]:
        """Features with a kind and a reference profile: those a drift job compares."""
        return [f for f in self.features if f.kind is not None and f.column in self.profiles]

    @property
    def without_reference(self) -> list[Feature]:
        """Features that would be profiled but that the training data does not hold."""
        return [f for f in self.features if f.kind is not None and f.column not in self.profiles]

    @property
    def skipped(self) -> list[Feature]:
        return [f for f in self.features if f.kind is None]


def features_from_signature(signature: Mapping[str, Any]) -> tuple[Feature, ...]:
    """The features of a signature (``{"inputs": [...], "outputs": [...]}`` as in ``hydro.json``)."""
    inputs: Sequence[Mapping[str, Any]] = signature.get("inputs") or []
    outputs: Sequence[Mapping[str, Any]] = signature.get("outputs") or []
    input_names = {str(spec["name"]) for spec in inputs}
    features = [_feature(spec, "input", str(spec["name"])) for spec in inputs]
    for spec in outputs:
        name = str(spec["name"])
        features.append(_feature(spec, "output", f"output.{name}" if name in input_names else name))
    return tuple(features)


def _feature(spec: Mapping[str, Any], role: Role, column: str) -> Feature:
    name = str(spec["name"])
    datatype = str(spec["datatype"]).upper()
    profile = str(spec.get("profile") or "")
    shape = [int(d) for d in spec.get("shape", [-1])]
    if profile in _NOT_PROFILED:
        return Feature(name, column, role, datatype, None, f"not profiled ({_NOT_PROFILED[profile]})")
    item = shape[1:]
    if any(d == -1 for d in item) or math.prod(item) > 1:
        return Feature(
            name, column, role, datatype, None, f"not profiled (a tensor of shape {item} per item)"
        )
    if profile in ("numeric", "categorical"):
        kind: FeatureKind = "numeric" if profile == "numeric" else "categorical"
    else:
        kind = "categorical" if datatype in _CATEGORICAL_DATATYPES else "numeric"
    return Feature(name, column, role, datatype, kind)


def build_reference(
    features: Sequence[Feature], table: pa.Table, source: str = ""
) -> tuple[Reference, bytes, bytes]:
    """Profile the training ``table``; return the reference and its two stored forms (JSON, ``.npz``)."""
    columns: dict[str, npt.NDArray[Any]] = {}
    profiles: dict[str, FeatureProfile] = {}
    for feature in features:
        if feature.kind is None or feature.column not in table.column_names:
            continue
        columns[feature.column] = column_values(table.column(feature.column), feature.kind)
        profiles[feature.column] = profile_feature(feature.column, columns[feature.column], feature.kind)
    values = reference_values(columns, profiles)
    reference = Reference(tuple(features), profiles, values, rows=table.num_rows, source=source)
    return reference, encode_profile(reference), reference_values_to_bytes(values)


def encode_profile(reference: Reference) -> bytes:
    document = {
        "format": REFERENCE_FORMAT,
        "source": reference.source,
        "rows": reference.rows,
        "features": [f.to_dict() for f in reference.features],
        "profile": profiles_to_dict(reference.profiles),
    }
    return json.dumps(document, allow_nan=False).encode()


def decode_reference(profile_json: bytes, values_npz: bytes) -> Reference:
    document = json.loads(profile_json)
    if document.get("format") != REFERENCE_FORMAT:
        raise ValueError(f"unsupported reference format {document.get('format')!r}")
    values = reference_values_from_bytes(values_npz)
    return Reference(
        features=tuple(Feature.from_dict(f) for f in document["features"]),
        profiles=profiles_from_dict(document["profile"]),
        values=values,
        rows=int(document.get("rows", 0)),
        source=str(document.get("source", "")),
    )


async def load_reference(store: ObjectStore, model: str, version: int) -> Reference | None:
    """The stored reference of a version, or None when none was built yet."""
    try:
        profile_json = await store.get(profile_key(model, version))
        values_npz = await store.get(reference_values_key(model, version))
    except ObjectNotFound:
        return None
    return decode_reference(profile_json, values_npz)


async def save_reference(
    store: ObjectStore, model: str, version: int, profile_json: bytes, values_npz: bytes
) -> None:
    """Store the raw values first: a reader that finds ``profile.json`` finds both objects."""
    await store.put(reference_values_key(model, version), values_npz)
    await store.put(profile_key(model, version), profile_json)


async def ensure_reference(
    store: ObjectStore,
    model: str,
    version: int,
    fetch_package: Callable[[], Awaitable[IO[bytes]]],
) -> Reference:
    """The stored reference, or one built now from the package ``fetch_package`` returns, then stored."""
    stored = await load_reference(store, model, version)
    if stored is not None:
        return stored
    archive = await fetch_package()
    try:
        reference, profile_json, values_npz = await asyncio.to_thread(
            reference_from_package, archive, f"{model}:{version}"
        )
    finally:
        archive.close()
    await save_reference(store, model, version, profile_json, values_npz)
    return reference


def reference_from_package(archive: IO[bytes], label: str) -> tuple[Reference, bytes, bytes]:
    """Read the package's manifest and training data and profile them. Blocking."""
    manifest, table, path = read_package(archive)
    if table is None:
        raise InvalidRequest(
            f"{label} has no training_data in its hydro.yaml: there is no reference to compare with"
        )
    features = features_from_signature(manifest.signature.to_dict())
    return build_reference(features, table, source=path)


def column_values(column: pa.ChunkedArray | pa.Array, kind: FeatureKind) -> npt.NDArray[Any]:
    """A column as the statistics core takes it: float64 with NaN for nulls, or objects with None."""
    if kind == "numeric":
        if pa.types.is_boolean(column.type):
            column = pc.cast(column, pa.int8())
        numbers = pc.cast(column, pa.float64())  # nulls come out of to_numpy as NaN
        return np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)
    if pa.types.is_dictionary(column.type):
        column = pc.cast(column, column.type.value_type)
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=object)


# -- the training data inside a package -------------------------------------------------------------


def read_package(archive: IO[bytes]) -> tuple[Manifest, pa.Table | None, str]:
    """The manifest (``hydro.json``), the training data as a table (None without ``training_data``) and
    its path, read from a package tar.gz without unpacking it to disk (``wire.package``'s checks and
    limits apply). Blocking."""
    try:
        with PackageArchive(archive, Limits()) as package:
            manifest = package.manifest()
            path = manifest.training_data
            if not path:
                return manifest, None, ""
            files = [name for name in package.files_at(path) if _format_of(name) is not None]
            if not files:
                raise InvalidRequest(
                    f"training_data {path!r}: no CSV or Parquet file at that path in the package"
                )
            columns = _training_types(manifest.signature.to_dict())
            tables = [_read_table(name, package.read(name), columns) for name in files]
    except PackageError as exc:
        raise InvalidRequest(f"the model package cannot be read: {exc}") from None
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="permissive")
    return manifest, table, path


def _format_of(name: str) -> str | None:
    lower = name.lower()
    if lower.endswith((".csv", ".csv.gz")):
        return "csv"
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    return None


def _training_types(signature: Mapping[str, Any]) -> dict[str, pa.DataType]:
    """Column types for CSV parsing, so ``"0042"`` in a BYTES column stays a string."""
    types: dict[str, pa.DataType] = {}
    for feature in features_from_signature(signature):
        if feature.kind is None:
            continue
        if feature.datatype == "BOOL":
            types[feature.column] = pa.bool_()
        elif feature.datatype == "BYTES" or feature.kind == "categorical":
            types[feature.column] = pa.string()
        else:
            types[feature.column] = pa.float64()
    return types


def _read_table(name: str, data: bytes, types: Mapping[str, pa.DataType]) -> pa.Table:
    try:
        if _format_of(name) == "parquet":
            return pq.read_table(io.BytesIO(data))
        if name.lower().endswith(".gz"):
            data = gzip.decompress(data)
        convert = pa_csv.ConvertOptions(column_types=dict(types), strings_can_be_null=True)
        return pa_csv.read_csv(pa.py_buffer(data), convert_options=convert)
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise InvalidRequest(f"training data {name!r} cannot be read: {exc}") from None
