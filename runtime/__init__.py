"""Hydro's model server: serves one model version over the Open Inference Protocol (gRPC).

It runs inside every model container and as a local process in embedded mode, so it imports
nothing but the standard library, grpcio, protobuf, numpy and `protos`.
"""

__version__ = "0.1.0"
