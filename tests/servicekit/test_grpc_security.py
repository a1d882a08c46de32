"""What the internal gRPC services accept as the service credential."""

from __future__ import annotations

import pytest

from servicekit.grpc_security import ServiceCredentialCheck

TOKEN = "the-service-token"


@pytest.mark.parametrize(
    ("metadata", "refusal"),
    [
        ((("authorization", f"Bearer {TOKEN}"),), None),
        ((("x-request-id", "1"), ("authorization", f"bearer {TOKEN}")), None),
        ((), "no `authorization` metadata was sent"),
        ((("x-request-id", "1"),), "no `authorization` metadata was sent"),
        ((("authorization", TOKEN),), "the `authorization` metadata is not `Bearer <token>`"),
        ((("authorization", f"Basic {TOKEN}"),), "the `authorization` metadata is not `Bearer <token>`"),
        ((("authorization", "Bearer "),), "the `authorization` metadata is not `Bearer <token>`"),
        ((("authorization", f"Bearer {TOKEN}x"),), "the bearer token is not the service credential"),
        ((("authorization", "Bearer x"),), "the bearer token is not the service credential"),
        # The first `authorization` entry counts: a second one cannot smuggle the credential in.
        (
            (("authorization", "Bearer x"), ("authorization", f"Bearer {TOKEN}")),
            "the bearer token is not the service credential",
        ),
        ((("authorization-bin", TOKEN.encode()),), "no `authorization` metadata was sent"),
    ],
)
def test_only_the_bearer_service_credential_passes(
    metadata: tuple[tuple[str, str | bytes], ...], refusal: str | None
) -> None:
    assert ServiceCredentialCheck(TOKEN).refusal(metadata) == refusal


def test_an_empty_credential_is_never_configured() -> None:
    with pytest.raises(ValueError, match="empty"):
        ServiceCredentialCheck("")
