"""Click callbacks that read the arguments several commands share, reporting a bad one as wrong usage."""

from __future__ import annotations

import json
from typing import Any

import click


def version_key(ctx: click.Context | None, param: click.Parameter | None, value: str) -> tuple[str, int]:
    """`MODEL:N` as (model, version)."""
    model, _, number = value.rpartition(":")
    if not model or not number.isdigit() or int(number) < 1:
        raise click.BadParameter(f"{value!r} is not MODEL:VERSION, e.g. fraud-detector:3")
    return model, int(number)


def json_object(ctx: click.Context | None, param: click.Parameter | None, value: str) -> dict[str, Any]:
    """A JSON object of inputs, e.g. `{"amount": [12.5]}`."""
    try:
        body = json.loads(value)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(body, dict):
        raise click.BadParameter('expected a JSON object of inputs, e.g. {"amount": [12.5]}')
    return body
