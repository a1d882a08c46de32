"""Hydro's data-plane gateway: invoke per application over HTTP and gRPC, hold-and-forward to replicas."""

__version__ = "0.1.0"
