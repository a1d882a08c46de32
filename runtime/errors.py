"""The runtime's errors, mapped to gRPC status codes only in `grpc_edge.py`.

    ServingError                 anything the runtime refuses or cannot do; the message names the problem
    ├── StartupError             the process cannot serve at all (exit non-zero, message on stderr)
    │   ├── ManifestError        hydro.json is missing or invalid
    │   ├── LoadError            the model's entrypoint cannot be imported, found or instantiated
    │   └── ListenError          the gRPC port cannot be bound
    └── RequestError             one request fails; the process keeps serving
        ├── ModelNotFoundError   the request names another model or version        -> NOT_FOUND
        ├── NotReadyError        the model is still loading                         -> UNAVAILABLE
        └── ModelError           the model raised, or answered something that is
                                 not a dict of arrays matching the signature        -> INTERNAL

Bad tensors in a request raise `wire.signature.SignatureError` or `wire.datatypes.TensorError`
(both `ValueError`s), which the gRPC edge answers with INVALID_ARGUMENT.
"""


class ServingError(Exception):
    """Base of the runtime's own errors."""


class StartupError(ServingError):
    """The process cannot serve: it exits non-zero with this message on stderr."""


class ManifestError(StartupError):
    """hydro.json is missing or invalid."""


class LoadError(StartupError):
    """The model's entrypoint cannot be imported, found or instantiated."""


class ListenError(StartupError):
    """The gRPC address cannot be bound."""


class RequestError(ServingError):
    """One request fails; the process keeps serving."""


class ModelNotFoundError(RequestError):
    """The request names a model or version that this process does not serve."""


class NotReadyError(RequestError):
    """The model has not finished loading."""


class ModelError(RequestError):
    """The model raised, or answered something that does not match its signature."""
