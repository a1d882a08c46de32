"""What a request must pass before anything is forwarded: the invoke key, the version asked for, the
inputs and the outputs asked for. Pure checks over the routing table's `Route` and the drawn `Plan`;
each raises the `RouterError` that names the problem.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence

import numpy as np

from protos.inference import grpc_service_pb2 as pb
from router.errors import InvalidInputError, UnauthenticatedError, VersionNotFoundError
from router.plan import Plan
from router.routing import Route, Version
from wire import oip_grpc
from wire.datatypes import TensorError
from wire.limits import TensorLimits
from wire.signature import SignatureError


def authenticate(route: Route, authorization: str | None) -> None:
    """Raise UnauthenticatedError unless the route needs no invoke key or `authorization` (the
    `Authorization` header or gRPC metadata value, `Bearer <key>`) carries one of its keys."""
    if not route.require_invoke_key:
        return
    scheme, _, key = (authorization or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise UnauthenticatedError(
            f"application {route.name!r} requires an invoke key (Authorization: Bearer ...)"
        )
    presented = hashlib.sha256(key.encode()).hexdigest()
    matched = False
    for accepted in route.invoke_key_hashes:
        matched |= hmac.compare_digest(presented, accepted)
    if not matched:
        raise UnauthenticatedError(f"invalid invoke key for application {route.name!r}")


def served_version(route: Route) -> Version | None:
    """The one model version answering for a single-stage, single-variant application, else None."""
    if len(route.stages) == 1 and len(route.stages[0].variants) == 1:
        return route.stages[0].variants[0]
    return None


def check_version(route: Route, version: str) -> None:
    """Raise VersionNotFoundError unless `version` ("" = none asked for) names the application's version.

    An application has no versions of its own. The Open Inference Protocol's model version (in the
    REST path or `model_version`) is accepted only when it names the model version that a
    single-stage, single-variant application runs; anything else is not found.
    """
    if not version:
        return
    served = served_version(route)
    if served is None:
        raise VersionNotFoundError(
            route.name,
            version,
            "it routes to more than one model version; call it without a version",
        )
    if served.number != version:
        raise VersionNotFoundError(
            route.name,
            version,
            f"it runs {served.key}; call it as version {served.number!r} or without one",
        )


def check_outputs(plan: Plan, names: Sequence[str]) -> None:
    """Raise InvalidInputError naming the output unless the last stage produces every one of `names`."""
    try:
        plan.versions[-1].signature.check_requested(names, f"application {plan.route.name!r}")
    except SignatureError as exc:
        raise InvalidInputError(str(exc)) from None


def check_request(plan: Plan, request: pb.ModelInferRequest, limits: TensorLimits) -> None:
    """Raise InvalidInputError naming the field or the limit unless the inputs of `request` keep within
    `limits` and fit the first stage's signature (told from the message when it can be: a well-formed
    request is never decoded here, and the limits are checked before a request is decoded)."""
    if oip_grpc.fits(request, plan.signature, limits):
        return
    try:
        oip_grpc.check_limits(request, limits)
        arrays = oip_grpc.decode_infer_request(request)
    except TensorError as exc:
        raise InvalidInputError(str(exc)) from None
    check_inputs(plan, arrays)


def check_inputs(plan: Plan, arrays: Mapping[str, np.ndarray]) -> None:
    """Raise InvalidInputError naming the field unless `arrays` fit the first stage's signature."""
    try:
        plan.signature.check_inputs(arrays)
    except (SignatureError, TensorError) as exc:
        raise InvalidInputError(str(exc)) from None
