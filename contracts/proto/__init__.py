"""gRPC contracts (.proto) and their generated Python stubs (scripts/grpc_stubs.py)."""
