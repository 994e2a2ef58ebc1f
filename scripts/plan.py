"""`python scripts/plan.py status`: where the running system stands on migrations_plan/plan.yaml.

Reads the live route table (strangler_proxy/routes/file.py) and the ownership file
(servicekit/migration/ownership.py) — the same files the proxy and the services read.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def step_state(
    step: dict, routes: dict[str, str], owners: dict[str, str]
) -> tuple[bool, list[str]]:
    missing = [
        f"route {name} is {routes.get(name, 'absent')}, not {mode}"
        for name, mode in (step.get("routes") or {}).items()
        if routes.get(name) != mode
    ] + [
        f"{entity} is owned by {owners.get(entity, '?')}, not {owner}"
        for entity, owner in (step.get("ownership") or {}).items()
        if owners.get(entity) != owner
    ]
    return not missing, missing


def main(argv: list[str]) -> int:
    if argv[:1] != ["status"]:
        print("usage: python scripts/plan.py status", file=sys.stderr)
        return 2
    from django.conf import settings

    settings.configure()
    from servicekit.migration.ownership import ownership
    from strangler_proxy.routes.file import live_routes_file

    table = yaml.safe_load(live_routes_file().read_text())
    routes = {r["name"]: r.get("mode", "monolith") for r in table["routes"]}
    owners = ownership()
    plan = yaml.safe_load((ROOT / "migrations_plan" / "plan.yaml").read_text())
    current = None
    for number, step in enumerate(plan["steps"], start=1):
        done, missing = step_state(step, routes, owners)
        if not done and current is None:
            current = step["id"]
        mark = "done" if done and current is None else ("next" if step["id"] == current else "todo")
        print(f"{number:02d} {mark:<5} {step['id']:<16} {step['title']}")
        if step["id"] == current:
            for reason in missing:
                print(f"         - {reason}")
    print(f"position: {current or 'complete'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
