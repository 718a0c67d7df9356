#!/usr/bin/env python3
"""Regenerate src/agentbus/v1/envelope_pb2.py(.pyi) from proto/ (the repository's one wire
format) with grpcio-tools' protoc. Reproducible: same input and protoc, same output.

Usage: python scripts/gen_proto.py [out_dir]   (default: src, writing src/agentbus/v1/)
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PROTO = REPO / "proto"


def generate(out: Path) -> list[Path]:
    from grpc_tools import protoc  # type: ignore[import-untyped]

    out.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p.relative_to(PROTO)) for p in (PROTO / "agentbus" / "v1").glob("*.proto"))
    rc = protoc.main(["protoc", f"-I{PROTO}", f"--python_out={out}", f"--pyi_out={out}", *files])
    if rc != 0:
        raise SystemExit(f"protoc failed ({rc})")
    return sorted((out / "agentbus" / "v1").glob("*_pb2.py*"))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE.parent / "src"
    for f in generate(target):
        print(f)
