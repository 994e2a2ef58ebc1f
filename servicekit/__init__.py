"""Shared, versioned plumbing for the monolith, the proxy and the extracted services."""

__version__ = "0.1.0"
