"""docker-compose.yml and k8s/ are what deploy/generate/ writes from the Procfile, the port map
and the settings modules: a new process or service is a Procfile line plus a rerun."""

from __future__ import annotations

import subprocess
import sys

from tests.infra import fleet


def test_generated_deployment_files_are_up_to_date():
    result = subprocess.run(
        [sys.executable, "-m", "deploy.generate", "--check"],
        cwd=fleet.ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr + result.stdout
