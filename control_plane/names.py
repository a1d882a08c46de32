"""Names of models, applications and deployment configs: DNS labels, so they fit URLs, images and hosts."""

from __future__ import annotations

import re

from control_plane.errors import InvalidRequest

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def is_dns_label(value: str) -> bool:
    return bool(_DNS_LABEL.match(value))


def check_name(value: str, what: str) -> str:
    """Return `value`, or raise InvalidRequest naming `what` when it is not a DNS label."""
    if not is_dns_label(value):
        raise InvalidRequest(f"{what} {value!r} is not valid: {describe_rule()}")
    return value


def describe_rule() -> str:
    return "use 1 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"
