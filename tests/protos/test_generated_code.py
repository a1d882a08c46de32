"""The checked-in generated code must match the `.proto` sources."""

from pathlib import Path

from protos.generate import REPO_ROOT, generate, proto_sources


def test_generated_code_is_current(tmp_path: Path) -> None:
    generate(out_dir=tmp_path)
    stale = []
    for source in proto_sources():
        stem = source.relative_to(REPO_ROOT).with_suffix("")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            fresh = tmp_path / f"{stem}{suffix}"
            checked_in = REPO_ROOT / f"{stem}{suffix}"
            if not checked_in.exists() or checked_in.read_bytes() != fresh.read_bytes():
                stale.append(str(checked_in.relative_to(REPO_ROOT)))
    assert not stale, f"generated code is stale, run `make generate`: {stale}"
