"""The control plane's errors. Mapped to HTTP / gRPC status codes only at the edges (`api/errors.py`).

HydroError                    anything the control plane refuses or cannot do; the message names the problem
├── InvalidRequest            bad input                                                         -> 400
│   └── PackageError          an uploaded model package is malformed or unsafe                  -> 400
├── PackageTooLarge           the upload exceeds the size limit                                 -> 413
├── Unauthorized              missing or wrong bearer token                                     -> 401
├── NotFound                  no such model, version, application or deployment config          -> 404
├── Conflict                  valid input that clashes with the catalog's current state         -> 409
└── BuildError                building or pushing a version's image failed (kept in its log, never
                              answered to an API call)

The shared object store's errors (`servicekit.object_store`) are mapped at the same edge:
ObjectNotFound -> 404, InvalidObjectLocation -> 400, any other ObjectStoreError -> 503.
"""


class HydroError(Exception):
    """Base of the control plane's own errors."""


class InvalidRequest(HydroError):
    """The request is malformed or names something that cannot be used."""


class PackageError(InvalidRequest):
    """An uploaded model package is malformed, unsafe, or its hydro.yaml is invalid."""


class PackageTooLarge(HydroError):
    """The upload is larger than `max_package_bytes` (or unpacks to more than `max_unpacked_bytes`)."""


class Unauthorized(HydroError):
    """A write call came without a bearer token, or with a wrong one."""


class NotFound(HydroError):
    """The named model, version, application or deployment config does not exist."""


class Conflict(HydroError):
    """The request is well-formed but clashes with the catalog (a version not released yet, two configs)."""


class BuildError(HydroError):
    """Building or pushing an image failed; the version ends `failed` with this message and its log."""
