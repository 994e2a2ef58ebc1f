"""Exports of the route table to other data planes (`python -m strangler_proxy export ...`)."""
