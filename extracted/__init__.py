"""Extracted services: one Django project (settings, database, queue) per service."""
