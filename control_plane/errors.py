"""The control plane's errors. Mapped to HTTP status codes at one edge only (`api/common.py`); the gRPC
edge (`grpc_edge.py`) serves snapshots and raises none of them (a snapshot it cannot load is UNAVAILABLE).

HydroError                    anything the control plane refuses or cannot do; the message names the problem
├── InvalidRequest            bad input                                                         -> 400
│   └── PackageError          an uploaded model package is malformed or unsafe                  -> 400
├── PackageTooLarge           an uploaded package exceeds its size limits                       -> 413
├── BodyTooLarge              a JSON request body (or a drift worker's result) is too large     -> 413
├── Unauthorized              missing or wrong bearer token                                     -> 401
├── Forbidden                 a valid credential whose role may not make this call              -> 403
├── NotFound                  no such model, version, application, deployment config, invoke
│                             key, monitoring schedule or drift report (or its page, yet)       -> 404
├── Conflict                  valid input that clashes with the catalog's current state (or
│                             with the platform's: a Kafka endpoint where no brokers are set)   -> 409
├── ServiceUnavailable        a service the call needs (Sonar) did not answer or take it        -> 503
└── BuildError                building or pushing a version's image failed (kept in its log, never
                              answered to an API call)

The shared object store's errors (`servicekit.object_store`) are mapped at the same edge:
ObjectNotFound -> 404, InvalidObjectLocation -> 400, any other ObjectStoreError -> 503. Any other
exception is logged with its traceback and answered with a generic 500.
"""


class HydroError(Exception):
    """Base of the control plane's own errors."""


class InvalidRequest(HydroError):
    """The request is malformed or names something that cannot be used."""


class PackageError(InvalidRequest):
    """An uploaded model package is malformed, unsafe, or its hydro.yaml is invalid."""


class PackageTooLarge(HydroError):
    """The upload is larger than `max_package_bytes` (or unpacks to more than `max_unpacked_bytes`)."""


class BodyTooLarge(HydroError):
    """A JSON request body is larger than `max_json_body_bytes` (a worker's drift result: its own limit)."""


class Unauthorized(HydroError):
    """A call came without a bearer token, or with one that is not valid."""


class Forbidden(HydroError):
    """A valid credential whose role may not make the call; the message names the role needed."""


class NotFound(HydroError):
    """The named thing does not exist (model, version, application, deployment config, invoke key,
    monitoring schedule, drift report), or a drift report has no page (yet)."""


class Conflict(HydroError):
    """The request is well-formed but clashes with the catalog (a version not released yet, two configs,
    a consumer group another application uses) or with the platform (Kafka declared without brokers)."""


class ServiceUnavailable(HydroError):
    """Another Hydro service the call needs (Sonar, for samples) did not answer or did not take it all."""


class BuildError(HydroError):
    """Building or pushing an image failed; the version ends `failed` with this message and its log."""
