"""The catalog service's gRPC contracts."""
