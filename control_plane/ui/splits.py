"""The traffic-split editor's logic, with no I/O: an application's declaration as the API takes it, the
same with new weights, the difference, and the result as Terraform HCL for `hydro_application`.

The editor sends what the user typed to the API unchanged (a weight that is not a whole number goes as
text), so the API's own validation decides, and its message is what the user reads.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

_KAFKA_FIELDS = ("source_topic", "destination_topic", "error_topic", "consumer_group")


def declaration(application: dict[str, Any]) -> dict[str, Any]:
    """The `PUT /applications/{app}` body that declares `application` (a `GET` answer) as it is."""
    body: dict[str, Any] = {
        "stages": [
            {
                "variants": [
                    {
                        "model": variant["model"],
                        "version": variant["version"],
                        "weight": variant["weight"],
                        "deployment_config": variant["deployment_config"],
                    }
                    for variant in stage["variants"]
                ]
            }
            for stage in application["stages"]
        ],
        "sampling_rate": application["sampling_rate"],
        "require_invoke_key": application["require_invoke_key"],
    }
    kafka = application.get("kafka")
    if kafka:
        body["kafka"] = {field: kafka[field] for field in _KAFKA_FIELDS if kafka.get(field) is not None}
    return body


def field(stage: int, variant: int) -> str:
    """The form field of one variant's weight."""
    return f"weight-{stage}-{variant}"


def _typed(raw: str) -> int | str:
    text = raw.strip()
    try:
        return int(text)
    except ValueError:
        return text


def with_weights(body: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    """`body` with the weights the form holds (a variant the form does not name keeps its weight)."""
    changed = copy.deepcopy(body)
    for s, stage in enumerate(changed["stages"]):
        for v, variant in enumerate(stage["variants"]):
            raw = form.get(field(s, v))
            if raw is not None:
                variant["weight"] = _typed(raw)
    return changed


@dataclass(frozen=True)
class Change:
    """One variant's weight before and after, with its share of its stage's traffic (None: not computable)."""

    stage: int
    label: str
    before: Any
    after: Any
    share_before: float | None
    share_after: float | None

    @property
    def changed(self) -> bool:
        return bool(self.before != self.after)


def _shares(variants: list[dict[str, Any]]) -> list[float | None]:
    weights = [variant["weight"] for variant in variants]
    if not all(isinstance(w, int) and w >= 0 for w in weights) or sum(weights) <= 0:
        return [None] * len(weights)
    total = sum(weights)
    return [100.0 * w / total for w in weights]


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[Change]:
    changes = []
    for s, (old, new) in enumerate(zip(before["stages"], after["stages"], strict=True)):
        old_shares, new_shares = _shares(old["variants"]), _shares(new["variants"])
        for v, (a, b) in enumerate(zip(old["variants"], new["variants"], strict=True)):
            changes.append(
                Change(
                    s,
                    f"{a['model']} v{a['version']} ({a['deployment_config']})",
                    a["weight"],
                    b["weight"],
                    old_shares[v],
                    new_shares[v],
                )
            )
    return changes


def as_json(body: dict[str, Any]) -> str:
    return json.dumps(body, indent=2)


def _hcl_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a quoted string; JSON's escapes are HCL's


def _attributes(values: dict[str, Any], indent: str) -> list[str]:
    width = max(len(key) for key in values)
    return [f"{indent}{key.ljust(width)} = {_hcl_value(value)}" for key, value in values.items()]


def as_hcl(name: str, body: dict[str, Any]) -> str:
    """The `hydro_application` resource that declares `body` (resource label: the name, dashes as `_`)."""
    label = name.replace("-", "_")
    lines = [f'resource "hydro_application" "{label}" {{']
    lines += _attributes(
        {
            "name": name,
            "sampling_rate": body["sampling_rate"],
            "require_invoke_key": body["require_invoke_key"],
        },
        "  ",
    )
    for stage in body["stages"]:
        lines += ["", "  stage {"]
        for variant in stage["variants"]:
            lines.append("    variant {")
            lines += _attributes(
                {key: variant[key] for key in ("model", "version", "weight", "deployment_config")}, "      "
            )
            lines.append("    }")
        lines.append("  }")
    kafka = body.get("kafka")
    if kafka:
        lines += ["", "  kafka {", *_attributes(kafka, "    "), "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"
