"""The strangler proxy: one entry point that moves routes from the monolith to extracted services."""

__version__ = "0.1.0"
