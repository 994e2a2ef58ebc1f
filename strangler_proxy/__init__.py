"""The strangler proxy: one entry point that moves routes from the monolith to extracted services."""
