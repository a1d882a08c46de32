"""Parsing JSON request bodies into pydantic models, with errors that name the offending key."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from control_plane.errors import InvalidRequest

M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any, what: str) -> M:
    """Validate `data` as `model`; raise InvalidRequest like "deployment config: min_replicas: ..."."""
    if not isinstance(data, dict):
        raise InvalidRequest(f"{what}: expected a JSON object, got {_json_type(data)}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(f"{what}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """The first problem of a ValidationError, with its location as `stages[0].variants[1].weight`."""
    error = exc.errors(include_url=False)[0]
    location = _location(error["loc"])
    if error["type"] == "extra_forbidden":
        return f"unknown key {location!r}"
    if error["type"] == "missing":
        return f"missing required key {location!r}"
    message = str(error["msg"]).removeprefix("Value error, ")
    if not location:
        return message
    return f"{location}: {message} (got {error['input']!r})"


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _json_type(data: Any) -> str:
    if isinstance(data, list):
        return "an array"
    if data is None:
        return "null"
    return type(data).__name__
