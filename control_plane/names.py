"""Names of models, applications and deployment configs: DNS labels, so they fit URLs, images and hosts."""

from __future__ import annotations

from control_plane.errors import InvalidRequest
from wire.names import DNS_LABEL_RULE, is_dns_label


def check_name(value: str, what: str) -> str:
    """Return `value`, or raise InvalidRequest naming `what` when it is not a DNS label."""
    if not is_dns_label(value):
        raise InvalidRequest(f"{what} {value!r} is not valid: {describe_rule()}")
    return value


def describe_rule() -> str:
    return f"use {DNS_LABEL_RULE}"
