"""Sonar's errors. No status code carries them: at the gRPC edge (`sonar.grpc_edge`) InvalidRequest refuses
one record (counted as rejected in the batch's IngestAck), never the stream. In the drift worker any of
them fails the job it runs (reported to the control plane), and a ControlPlaneError while claiming or
reporting is logged and retried.

    SonarError              anything Sonar refuses or cannot do; the message names the problem
    ├── InvalidRequest      bad input (a record that does not fit its version's signature, a job that
    │                       cannot run: no training data, a bad threshold or URL)
    ├── ControlPlaneError   the control plane could not be reached or answered something unexpected
    └── LeaseLost           the control plane answered 409: this worker no longer holds the drift job

The object store's own errors (`servicekit.object_store.ObjectStoreError`, `ObjectNotFound`) pass through as
they are: the writer retries them, the drift worker reports them as the job's failure. httpx's errors are
translated into ControlPlaneError in `sonar.control_plane_client`, the one module that calls the control
plane's REST API. The numeric core (`sonar.profile`, `ecdf`, `histograms`, `drift`) raises ValueError on
arguments it cannot use, as numpy and scipy do; the drift job reads what a user controls (the claim, its
thresholds, the samples, the package) and names those problems with InvalidRequest first.
"""


class SonarError(Exception):
    """Base of Sonar's own errors."""


class InvalidRequest(SonarError):
    """The request or a setting is malformed."""


class ControlPlaneError(SonarError):
    """The control plane could not be reached or answered something unexpected."""


class LeaseLost(SonarError):
    """The control plane answered 409: this worker no longer holds the job."""
