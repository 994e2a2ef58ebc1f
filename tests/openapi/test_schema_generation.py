"""Every service's schema generates with no drf-spectacular warning and validates as OpenAPI 3.

A warning is a schema that says less than the code (an unresolved authenticator, two components
collapsed under one name, as the exports' `ExportPage` once were).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.fleet import ROOT

pytestmark = [pytest.mark.integration]

MANAGE = {
    "monolith": "manage.py",
    **{
        name: f"extracted/{name}/manage.py"
        for name in ("catalog", "notifications", "users", "orders")
    },
}


@pytest.mark.parametrize("service", list(MANAGE))
def test_the_schema_generates_without_warnings(service, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            MANAGE[service],
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yaml"),
        ],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_ENV": "test",
            "STRANGLER_DATA_DIR": str(tmp_path),
            "LOG_LEVEL": "WARNING",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
