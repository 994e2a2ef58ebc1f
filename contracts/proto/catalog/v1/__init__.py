"""catalog.v1: pricing.proto and its stubs (pricing_pb2*.py, generated: do not edit)."""
