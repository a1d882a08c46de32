"""Sonar's errors. Mapped to gRPC / HTTP status codes only at the edges.

SonarError          anything Sonar refuses or cannot do; the message names the problem
├── InvalidRequest  bad input (a record that does not match its version's signature, a bad URL)
├── NotFound        no such object in the object store
└── StorageError    the object store failed (retried by the writer; counted when data had to be dropped)
"""


class SonarError(Exception):
    """Base of Sonar's own errors."""


class InvalidRequest(SonarError):
    """The request or a setting is malformed."""


class NotFound(SonarError):
    """The named object does not exist."""


class StorageError(SonarError):
    """The object store failed."""
