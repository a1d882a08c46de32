"""Sonar's errors. Mapped to gRPC / HTTP status codes only at the edges.

SonarError          anything Sonar refuses or cannot do; the message names the problem
└── InvalidRequest  bad input (a record that does not match its version's signature, a bad URL)

The object store's own errors (`servicekit.object_store.ObjectStoreError`, `ObjectNotFound`) pass through as
they are: the writer retries them, the drift worker reports them as the job's failure.
"""


class SonarError(Exception):
    """Base of Sonar's own errors."""


class InvalidRequest(SonarError):
    """The request or a setting is malformed."""
