"""Operators' control: admin API views, read models, route inventory, outbox lag, the page."""
