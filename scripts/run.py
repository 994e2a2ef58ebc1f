"""`make run`: migrate every service, seed the demo data and start the whole fleet (honcho).

Ports come from the port map (servicekit/web/ports.py); `<NAME>_PORT` in the environment moves a
process (the tutorial test runs a whole fleet on free ports this way). The proxy's route table
and the ownership file live in the data folder, so flipping routes never edits the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from servicekit.web.env import data_dir  # noqa: E402
from servicekit.web.ports import PORTS, port_env_var  # noqa: E402
from strangler_proxy.routes.file import live_routes_file  # noqa: E402

# Every Django service migrates its own database: (name, management script).
MANAGE = {
    "monolith": "manage.py",
    **{
        path.parent.name: str(path.relative_to(ROOT))
        for path in sorted(ROOT.glob("extracted/*/manage.py"))
    },
}


def fleet_env() -> dict[str, str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    # Each process names its own settings; one leaking from the operator's shell would not fit.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.setdefault("LOG_JSON", "true")
    folder = data_dir(environ=env)
    for name, default in PORTS.items():
        port = env.setdefault(port_env_var(name), str(default))
        env.setdefault(f"STRANGLER_{name.upper()}_URL", f"http://127.0.0.1:{port}")
    env.setdefault("JWKS_URL", env["STRANGLER_MONOLITH_URL"] + "/.well-known/jwks.json")
    env.setdefault("STRANGLER_ROUTES_FILE", str(live_routes_file(env)))
    env.setdefault("OWNERSHIP_FILE", str(folder / "ownership.yaml"))
    # The catalog's periodic reconciliation reads the monolith's staff export; locally it uses
    # the demo staff account (production sets its own credentials, or leaves it off).
    env.setdefault("RECONCILE_USERNAME", "staff")
    env.setdefault("RECONCILE_PASSWORD", "staff-demo-pass")
    # Locally testers force a canary side (X-Strangler-Canary), still only with a staff or the
    # admin token; the proxy's own default, and every deployment's, is off.
    env.setdefault("STRANGLER_TRUST_CANARY_HEADER", "true")
    return env


def banner(env: dict[str, str]) -> str:
    url = {name: env[f"STRANGLER_{name.upper()}_URL"] for name in PORTS}
    return f"""
  strangler is starting (Ctrl-C stops every process):
    the entry point   {url["proxy"]}/            storefront and API, through the proxy
    proxy admin API   {url["proxy"]}/_strangler/routes   (a staff JWT or $STRANGLER_ADMIN_TOKEN)
    proxy metrics     {url["proxy"]}/_strangler/metrics
    monolith          {url["monolith"]}/   docs {url["monolith"]}/api/docs/
    catalog service   {url["catalog"]}/api/docs/
    JWKS              {url["monolith"]}/.well-known/jwks.json
    route table       {env["STRANGLER_ROUTES_FILE"]}   (python -m strangler_proxy routes list)
    ownership         {env["OWNERSHIP_FILE"]}
  demo logins: alice / alice-demo-pass (customer), staff / staff-demo-pass (staff)
"""


def main() -> int:
    env = fleet_env()
    quiet = {**env, "LOG_LEVEL": "WARNING"}  # set-up steps print their summary, not every event
    for name, manage in MANAGE.items():
        print(f"-> {name}: migrate", flush=True)
        subprocess.run(
            [sys.executable, manage, "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=quiet,
            check=True,
        )
    print("-> monolith: seed demo data", flush=True)
    subprocess.run([sys.executable, "manage.py", "seed_demo"], cwd=ROOT, env=quiet, check=True)
    print(banner(env), flush=True)
    return subprocess.call([str(BIN / "honcho"), "start", "-f", "Procfile"], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
