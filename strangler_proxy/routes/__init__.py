"""The route table: typed model, schema, loading, pure resolution, the live source and its writer."""

from strangler_proxy.routes.load import load_table, parse_table
from strangler_proxy.routes.model import Route, RouteTable, RouteTableError
from strangler_proxy.routes.resolve import Decision, canary_bucket, resolve

__all__ = [
    "Decision",
    "Route",
    "RouteTable",
    "RouteTableError",
    "canary_bucket",
    "load_table",
    "parse_table",
    "resolve",
]
