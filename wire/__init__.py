"""The contracts every side must read the same way, shipped into every model image with `protos/`.

Datatypes, the signature, the tensor codecs (one module per form: OIP gRPC, OIP JSON, the binary
tensor data extension, Hydro's plain form), the stored package format, and the two process
conventions the runtime shares with the router (the JSON log line, the GC settings of the request
path). Imports nothing but the standard library, numpy and `protos/`, because the runtime may import
nothing else.
"""
