#!/usr/bin/env python
"""Generate the Python stubs of every .proto under contracts/proto (grpcio-tools), or `--check`
that the committed ones are what generating gives."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PROTO_DIR = ROOT / "contracts" / "proto"
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
# What the contract test pins: every message's fields and every service's methods, by number
# and type (tests/contracts/test_grpc_contract.py). Rewritten only by `--snapshot`.
SNAPSHOT = PROTO_DIR / "snapshot.json"


def protos() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def generate(out: Path) -> list[Path]:
    """Stubs for every .proto, written under `out` at their paths from the repository root (so
    they import as `contracts.proto.catalog.v1.pricing_pb2`); returns the files written."""
    import grpc_tools
    from grpc_tools import protoc

    include = Path(grpc_tools.__file__).parent / "_proto"
    for proto in protos():
        relative = proto.relative_to(ROOT)
        args = [
            "protoc",
            f"-I{ROOT}",
            f"-I{include}",
            f"--python_out={out}",
            f"--pyi_out={out}",
            f"--grpc_python_out={out}",
            str(relative),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {relative}")
    written = out / PROTO_DIR.relative_to(ROOT)
    return sorted(p for p in written.rglob("*") if p.name.endswith(SUFFIXES))


def stale() -> list[str]:
    """Stub files that differ from, or are missing beside, what generating gives now."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        wrong = []
        for path in fresh:
            committed = ROOT / path.relative_to(tmp)
            if not committed.exists() or committed.read_bytes() != path.read_bytes():
                wrong.append(str(committed.relative_to(ROOT)))
        expected = {ROOT / p.relative_to(tmp) for p in fresh}
    extra = [
        str(p.relative_to(ROOT))
        for p in PROTO_DIR.rglob("*")
        if p.name.endswith(SUFFIXES) and p not in expected
    ]
    return wrong + extra


def shape() -> dict:
    """The wire contract of every .proto's committed stubs: messages -> fields (number, type,
    label), services -> methods (request, response)."""
    import importlib

    from google.protobuf.descriptor import FieldDescriptor

    types = {
        v: k.removeprefix("TYPE_").lower()
        for k, v in vars(FieldDescriptor).items()
        if k.startswith("TYPE_")
    }
    found: dict = {}
    for proto in protos():
        module = ".".join(proto.relative_to(ROOT).with_suffix("").parts) + "_pb2"
        file = importlib.import_module(module).DESCRIPTOR
        messages = {
            m.full_name: {
                f.name: {
                    "number": f.number,
                    "type": f.message_type.full_name if f.message_type else types[f.type],
                    "repeated": f.is_repeated,
                }
                for f in m.fields
            }
            for m in file.message_types_by_name.values()
        }
        services = {
            s.full_name: {
                m.name: {"request": m.input_type.full_name, "response": m.output_type.full_name}
                for m in s.methods
            }
            for s in file.services_by_name.values()
        }
        found[str(proto.relative_to(ROOT))] = {"messages": messages, "services": services}
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the stubs are stale")
    parser.add_argument(
        "--snapshot", action="store_true", help=f"rewrite {SNAPSHOT.relative_to(ROOT)}"
    )
    args = parser.parse_args(argv)
    if args.snapshot:
        SNAPSHOT.write_text(json.dumps(shape(), indent=2, sort_keys=True) + "\n")
        print(SNAPSHOT.relative_to(ROOT))
        return 0
    if args.check:
        wrong = stale()
        for name in wrong:
            print(f"stale: {name} (run: python scripts/grpc_stubs.py)", file=sys.stderr)
        return 1 if wrong else 0
    for path in generate(ROOT):
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
