"""The name rule of models, applications and deployment configs: DNS labels, the whole string."""

from __future__ import annotations

import pytest

from wire.names import is_dns_label


@pytest.mark.parametrize("name", ["a", "fraud-detector", "a1", "1a", "x" * 63])
def test_dns_labels_are_names(name: str) -> None:
    assert is_dns_label(name)


@pytest.mark.parametrize("name", ["", "-a", "a-", "A", "a_b", "a.b", "x" * 64, "app\n", "app\x00", "\napp"])
def test_anything_else_is_not(name: str) -> None:
    assert not is_dns_label(name)  # "app\n" passed while the rule ended in `$` under re.match
