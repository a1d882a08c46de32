"""The rule for the names of models, applications and deployment configs: DNS labels, so that they fit
URLs, image names and hosts. In `wire/` because the runtime checks a model's name in its hydro.json too."""

from __future__ import annotations

import re

_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")

DNS_LABEL_RULE = "1 to 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"


def is_dns_label(value: str) -> bool:
    return _DNS_LABEL.fullmatch(value) is not None  # match's `$` would let a trailing newline through
