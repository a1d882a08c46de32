"""Regenerate the checked-in protobuf and gRPC code from the `.proto` sources.

Run from anywhere: `python -m protos.generate`. Code is generated from the repository
root so that generated imports are absolute (`from protos.inference import ...`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

REPO_ROOT = Path(__file__).resolve().parent.parent


PROTO_FOLDERS = ("protos", "terraform/provider/protocol")
"""Where `.proto` sources live: Hydro's contracts, and the Terraform plugin protocol the provider serves."""


def proto_sources() -> list[Path]:
    return sorted(path for folder in PROTO_FOLDERS for path in (REPO_ROOT / folder).rglob("*.proto"))


def generate(out_dir: Path = REPO_ROOT) -> None:
    """Write `*_pb2.py`, `*_pb2.pyi` and `*_pb2_grpc.py` for every source under `out_dir`."""
    sources = [str(p.relative_to(REPO_ROOT)) for p in proto_sources()]
    args = [
        "grpc_tools.protoc",
        f"--proto_path={REPO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


if __name__ == "__main__":
    generate()
    sys.stdout.write("generated protos\n")
