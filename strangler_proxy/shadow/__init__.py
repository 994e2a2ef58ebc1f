"""Shadow traffic: runner (off the request path), compare (pure), store (recent records), capture."""
