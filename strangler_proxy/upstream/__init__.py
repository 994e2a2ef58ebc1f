"""Upstreams: the transport (client), per-upstream pools (pool) and forwarding policies (forward)."""
