"""Loaded with `-p tests.pytest_env` before Django starts: test environment defaults."""

import os
import tempfile

os.environ.setdefault("DJANGO_ENV", "test")
os.environ.setdefault("STRANGLER_DATA_DIR", tempfile.mkdtemp(prefix="strangler-test-"))
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("LOG_JSON", "true")
