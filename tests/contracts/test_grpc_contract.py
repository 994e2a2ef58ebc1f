"""The gRPC contracts (contracts/proto): the wire shape is pinned by a committed snapshot, and the
committed stubs are exactly what grpcio-tools generates from the .proto files."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stubs():
    spec = importlib.util.spec_from_file_location(
        "grpc_stubs_script", ROOT / "scripts/grpc_stubs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_field_or_method_changed_number_or_type(stubs):
    """A field once on the wire keeps its number and type forever; so does a method's shape."""
    pinned = json.loads(stubs.SNAPSHOT.read_text())
    now = stubs.shape()
    for proto, contract in pinned.items():
        assert proto in now, f"{proto} was removed"
        for message, fields in contract["messages"].items():
            for name, field in fields.items():
                assert now[proto]["messages"].get(message, {}).get(name) == field, (
                    f"{message}.{name} changed or went: a new field takes a new number"
                )
        for service, methods in contract["services"].items():
            for name, method in methods.items():
                assert now[proto]["services"].get(service, {}).get(name) == method, (
                    f"{service}/{name} changed or went"
                )


def test_the_snapshot_records_the_contract_as_it_is(stubs):
    """An addition is recorded too (`python scripts/grpc_stubs.py --snapshot`), reviewed in
    the diff like any contract change."""
    assert json.loads(stubs.SNAPSHOT.read_text()) == stubs.shape()


def test_the_pinned_pricing_contract():
    pinned = json.loads((ROOT / "contracts/proto/snapshot.json").read_text())
    pricing = pinned["contracts/proto/catalog/v1/pricing.proto"]
    assert pricing["services"] == {
        "catalog.v1.Pricing": {
            "QuoteSkus": {
                "request": "catalog.v1.QuoteSkusRequest",
                "response": "catalog.v1.QuoteSkusResponse",
            }
        }
    }
    assert {
        name: (f["number"], f["type"])
        for name, f in pricing["messages"]["catalog.v1.SkuQuote"].items()
    } == {
        "sku": (1, "string"),
        "name": (2, "string"),
        "price": (3, "string"),
        "currency": (4, "string"),
        "available": (5, "int64"),
    }


def test_regenerating_the_stubs_gives_the_committed_files():
    done = subprocess.run(
        [sys.executable, "scripts/grpc_stubs.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
