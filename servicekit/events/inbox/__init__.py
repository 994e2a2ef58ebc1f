"""Idempotent, ordered inbox: apply each event once, in sequence order per aggregate."""
