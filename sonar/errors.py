"""Sonar's errors. Mapped to gRPC / HTTP status codes only at the edges.

    SonarError              anything Sonar refuses or cannot do; the message names the problem
    ├── InvalidRequest      bad input (a record that does not fit its version's signature, a job that
    │                       cannot run: no training data, a bad threshold or URL)
    ├── ControlPlaneError   the control plane could not be reached or answered something unexpected
    └── LeaseLost           the control plane answered 409: this worker no longer holds the drift job

The object store's own errors (`servicekit.object_store.ObjectStoreError`, `ObjectNotFound`) pass through as
they are: the writer retries them, the drift worker reports them as the job's failure. httpx's errors are
translated into ControlPlaneError in `sonar.control_plane_client`, the one module that calls the control
plane's REST API.
"""


class SonarError(Exception):
    """Base of Sonar's own errors."""


class InvalidRequest(SonarError):
    """The request or a setting is malformed."""


class ControlPlaneError(SonarError):
    """The control plane could not be reached or answered something unexpected."""


class LeaseLost(SonarError):
    """The control plane answered 409: this worker no longer holds the job."""
