"""The load's own products: the only ones it buys and edits, so the demo data stays as seeded."""

LOAD_SKUS = [f"LOAD-{n:04d}" for n in range(1, 13)]
LOAD_CATEGORY = "kitchen"  # a category `manage.py seed_demo` makes
