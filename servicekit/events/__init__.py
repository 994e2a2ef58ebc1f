"""Event plumbing: the outbox, the relay, the inbox, and the broker they talk through."""
