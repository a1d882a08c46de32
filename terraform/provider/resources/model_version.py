"""`hydro_model_version`: one immutable version of a model, uploaded from a folder with `hydro.yaml`.

A version never changes once uploaded, so the resource is keyed on the folder's content hash
(`content_sha256`, computed at plan time): changing any file plans a replacement (a new version) and
whatever refers to `version` updates in place. Moving the folder without changing a file plans nothing.
Create uploads the folder and waits for the build (bounded by `timeouts { create = "30m" }`); a failed
build is an error with the tail of the build log, and the failed version is kept in the state, tainted,
so the next apply replaces it.

Imported versions (`model:N`) have no content hash yet: their first plan records the folder's (an in-place
update of the provider's own attributes, no new version), since the platform keeps no hash to compare with.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from terraform.provider.diagnostics import Diagnostics, Problem
from terraform.provider.durations import seconds
from terraform.provider.platform import Platform, missing, refused
from terraform.provider.resource import Planned, Resource, State
from terraform.provider.schema import NUMBER, STRING, Attribute, Block, NestedBlock
from terraform.provider.values import UNKNOWN

if TYPE_CHECKING:
    from hydro.package import Package

DEFAULT_CREATE_TIMEOUT = "30m"
POLL_S = 0.5
LOG_TAIL_LINES = 25

BLOCK = Block(
    attributes=(
        Attribute("source", STRING, "The model folder (holding hydro.yaml) to upload.", required=True),
        Attribute("model", STRING, "The model's name, from hydro.yaml.", computed=True),
        Attribute("version", NUMBER, "The version number the platform gave the upload.", computed=True),
        Attribute("status", STRING, "released, or failed (a failed build).", computed=True),
        Attribute("image", STRING, "The built image (null on the process runtime).", computed=True),
        Attribute(
            "content_sha256",
            STRING,
            "Hash of the folder's files: a change makes a new version.",
            computed=True,
        ),
    ),
    blocks=(
        NestedBlock(
            "timeouts",
            Block(
                attributes=(
                    Attribute(
                        "create",
                        STRING,
                        f"How long create waits for the build (default {DEFAULT_CREATE_TIMEOUT}).",
                        optional=True,
                    ),
                )
            ),
            nesting="single",
        ),
    ),
    description="An immutable model version built from a folder; a changed file makes a new version.",
)


class ModelVersionResource(Resource):
    type_name = "hydro_model_version"
    block = BLOCK

    def validate(self, config: State, diags: Diagnostics) -> None:
        source = config.get("source")
        if isinstance(source, str):
            try:
                _read_manifest(source)
            except Problem as problem:
                diags.add(problem)
        create = (config.get("timeouts") or {}).get("create")
        if isinstance(create, str):
            try:
                seconds(create)
            except ValueError as exc:
                diags.add(Problem(str(exc), path="timeouts.create"))

    def plan(self, platform: Platform, prior: State | None, config: State, diags: Diagnostics) -> Planned:
        source, timeouts = config["source"], config.get("timeouts")
        if source is UNKNOWN:
            content, model = UNKNOWN, UNKNOWN
        else:
            package = _pack(source)
            content, model = content_sha256(source, package), package.name
        fresh = {
            "source": source,
            "timeouts": timeouts,
            "model": model,
            "version": UNKNOWN,
            "status": UNKNOWN,
            "image": UNKNOWN,
            "content_sha256": content,
        }
        if prior is None:
            return Planned(fresh)
        if prior.get("content_sha256") is None and content is not UNKNOWN:  # imported: adopt the folder
            return Planned({**prior, "source": source, "timeouts": timeouts, "content_sha256": content})
        if content is UNKNOWN or content != prior["content_sha256"]:
            return Planned(fresh, replace=["content_sha256"])
        return Planned({**prior, "source": source, "timeouts": timeouts})

    def create(self, platform: Platform, planned: State, diags: Diagnostics) -> State:
        from hydro.errors import HydroClientError

        client = platform.client()
        package = _pack(planned["source"])
        try:
            accepted = client.upload_version(package)
        except HydroClientError as exc:
            raise refused(exc, BLOCK, doing=f"uploading {planned['source']}") from None
        timeout = seconds((planned.get("timeouts") or {}).get("create") or DEFAULT_CREATE_TIMEOUT)
        deadline = time.monotonic() + timeout
        key = f"{accepted.model}:{accepted.version}"
        while True:
            try:
                version = client.version(accepted.model, accepted.version)
            except HydroClientError as exc:
                raise refused(exc, BLOCK, doing=f"following the build of {key}") from None
            state = {
                **planned,
                "model": version.model,
                "version": version.version,
                "status": version.status,
                "image": version.image,
            }
            if version.status == "released":
                return state
            if version.status == "failed":
                raise Problem(
                    f"the build of {key} failed: {version.error or 'no reason given'}",
                    path="source",
                    detail=f"The build log ends (all of it: hydro logs {key}):\n{_log_tail(platform, key)}",
                    state=state,
                )
            if time.monotonic() > deadline:
                raise Problem(
                    f"{key} is still {version.status} after {timeout:g} s (timeouts.create); "
                    f"follow it with `hydro logs {key}`",
                    state=state,
                )
            time.sleep(POLL_S)

    def update(self, platform: Platform, prior: State, planned: State, diags: Diagnostics) -> State:
        return {
            **prior,
            "source": planned["source"],
            "timeouts": planned["timeouts"],
            "content_sha256": planned["content_sha256"],
        }

    def delete(self, platform: Platform, prior: State, diags: Diagnostics) -> None:
        from hydro.errors import HydroClientError

        if prior.get("model") is None or prior.get("version") is None:
            return
        key = f"{prior['model']}:{prior['version']}"
        try:
            platform.client().delete_version(prior["model"], int(prior["version"]))
        except HydroClientError as exc:
            if not missing(exc):
                raise Problem(
                    f"the platform refused to delete {key}: {exc.message}",
                    detail=f"The control plane answered {exc.status}.",
                ) from None

    def read(self, platform: Platform, state: State, diags: Diagnostics) -> State | None:
        from hydro.errors import HydroClientError

        key = f"{state['model']}:{state['version']}"
        try:
            version = platform.client().version(state["model"], int(state["version"]))
        except HydroClientError as exc:
            if missing(exc):
                return None
            raise refused(exc, BLOCK, doing=f"reading {key}") from None
        return {
            **state,
            "model": version.model,
            "version": version.version,
            "status": version.status,
            "image": version.image,
        }

    def import_state(self, platform: Platform, id_: str, diags: Diagnostics) -> State:
        model, _, number = id_.rpartition(":")
        if not model or not number.isdigit():
            raise Problem(f"import a model version as MODEL:N (such as scorer:3), not {id_!r}")
        found = self.read(platform, {"model": model, "version": int(number)}, diags)
        if found is None:
            raise Problem(f"model version {id_!r} does not exist")
        return found


def _read_manifest(source: str) -> None:
    from hydro.errors import PackageError
    from hydro.package import read_hydro_yaml

    try:
        read_hydro_yaml(Path(source).expanduser())
    except PackageError as exc:
        raise Problem(str(exc), path="source") from None


def _pack(source: str) -> Package:
    from hydro.errors import PackageError
    from hydro.package import pack

    try:
        return pack(source)
    except PackageError as exc:
        raise Problem(str(exc), path="source") from None


def content_sha256(source: str, package: Package) -> str:
    """The hash of the folder's packed files: their names and contents (not their times or owners)."""
    root = Path(source).expanduser()
    digest = hashlib.sha256()
    for name in package.files:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256((root / name).read_bytes()).digest())
    return digest.hexdigest()


def _log_tail(platform: Platform, key: str) -> str:
    from hydro.errors import HydroClientError

    model, _, number = key.rpartition(":")
    try:
        log = platform.client().version_logs(model, int(number))
    except HydroClientError as exc:
        return f"(the build log cannot be read: {exc.message})"
    return "\n".join(log.rstrip().splitlines()[-LOG_TAIL_LINES:]) or "(the build log is empty)"
