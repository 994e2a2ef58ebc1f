"""`make run`: migrate, seed the demo data and start the whole fleet from the Procfile (honcho)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# (name, management entry, settings module): every Django service migrates its own database.
SERVICES: list[tuple[str, list[str]]] = [
    ("monolith", [sys.executable, "manage.py"]),
]
URLS = """
  strangler is starting (Ctrl-C stops every process):
    through the proxy http://127.0.0.1:8000/   (the single entry point)
    proxy admin API   http://127.0.0.1:8000/_strangler/routes   (Bearer $STRANGLER_ADMIN_TOKEN or a staff JWT)
    proxy metrics     http://127.0.0.1:8000/_strangler/metrics
    storefront        http://127.0.0.1:8001/
    API docs          http://127.0.0.1:8001/api/docs/
    JWKS              http://127.0.0.1:8001/.well-known/jwks.json
    monolith health   http://127.0.0.1:8001/readyz
  demo logins: alice / alice-demo-pass (customer), staff / staff-demo-pass (staff)
"""


def main() -> int:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.setdefault("LOG_JSON", "true")
    quiet = {**env, "LOG_LEVEL": "WARNING"}  # set-up steps print their summary, not every event
    for name, manage in SERVICES:
        print(f"-> {name}: migrate", flush=True)
        subprocess.run(
            [*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=quiet, check=True
        )
    print("-> monolith: seed demo data", flush=True)
    subprocess.run([sys.executable, "manage.py", "seed_demo"], cwd=ROOT, env=quiet, check=True)
    print(URLS, flush=True)
    return subprocess.call([str(BIN / "honcho"), "start", "-f", "Procfile"], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
