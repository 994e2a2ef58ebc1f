"""The outbox relay: claims pending rows in per-aggregate order, publishes, marks them sent."""
