"""`python scripts/plan.py status | goto NN | env`: the tutorial's plan (migrations_plan/plan.yaml)
against the running system.

- `status`: where the running system stands, from the live route table
  (strangler_proxy/routes/file.py) and the ownership file (servicekit/migration/ownership.py),
  the same files the proxy and the services read.
- `goto NN`: routes and owners as chapter NN starts (every step of an earlier chapter done,
  nothing later), written through the same locked writers as `routes set` and
  `ownership_cli set`. It moves no data: use it to start a chapter on a fleet where the copies
  are current (a fresh `make run` after `make clean-data` is, at any chapter).
- `env`: shell lines that (re)create the walk's environment in any terminal: the virtual
  environment, the fleet's URLs, fresh `ALICE` and `STAFF` tokens (those the terminal holds,
  if young and accepted; else new logins) and the helper functions.
  `eval "$(.venv/bin/python scripts/plan.py env)"`.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLAN = ROOT / "migrations_plan" / "plan.yaml"
USAGE = "usage: python scripts/plan.py status | goto NN | env"
# Logins the walk uses (made by `seed_demo`): variable, username, password.
WALK_LOGINS = (("ALICE", "alice", "alice-demo-pass"), ("STAFF", "staff", "staff-demo-pass"))
# Small shell helpers the chapters use.
HELPERS = {
    "count": """python -c 'import json, sys; print(json.load(sys.stdin)["count"])'""",
    "strip": (
        """python -c 'import json, sys; d = json.load(sys.stdin); """
        """[d.pop(k) for k in ("created_at", "updated_at")]; print(json.dumps(d, sort_keys=True))'"""
    ),
}


def load_plan() -> list[dict]:
    return yaml.safe_load(PLAN.read_text())["steps"]


def route_mode(wanted) -> str:
    """A plan's route entry is a mode, or a mapping of route fields with a mode."""
    return wanted["mode"] if isinstance(wanted, dict) else wanted


def step_state(
    step: dict, routes: dict[str, str], owners: dict[str, str]
) -> tuple[bool, list[str]]:
    missing = [
        f"route {name} is {routes.get(name, 'absent')}, not {route_mode(wanted)}"
        for name, wanted in (step.get("routes") or {}).items()
        if routes.get(name) != route_mode(wanted)
    ] + [
        f"{entity} is owned by {owners.get(entity, '?')}, not {owner}"
        for entity, owner in (step.get("ownership") or {}).items()
        if owners.get(entity) != owner
    ]
    return not missing, missing


def chapter_number(step: dict) -> int:
    return int(step["chapter"][:2])


def chapter_start(
    steps: list[dict], chapter: int, template: dict
) -> tuple[dict[str, dict], dict[str, str]]:
    """Route fields and owners as chapter `chapter` starts: the packaged route table and every
    entity with the monolith, then each step of an earlier chapter applied in order."""
    from servicekit.migration.ownership import DEFAULT_OWNER, ENTITIES
    from strangler_proxy.routes.file import ROUTE_SETTABLE

    routes = {
        raw["name"]: {key: raw.get(key) for key in ROUTE_SETTABLE} for raw in template["routes"]
    }
    owners = dict.fromkeys(ENTITIES, DEFAULT_OWNER)
    for step in steps:
        if chapter_number(step) >= chapter:
            continue
        for name, wanted in (step.get("routes") or {}).items():
            routes[name].update(wanted if isinstance(wanted, dict) else {"mode": wanted})
        owners.update(step.get("ownership") or {})
    return routes, owners


def status() -> int:
    from servicekit.migration.ownership import ownership
    from strangler_proxy.routes.file import live_routes_file

    table = yaml.safe_load(live_routes_file().read_text())
    routes = {r["name"]: r.get("mode", "monolith") for r in table["routes"]}
    owners = ownership()
    current = None
    for number, step in enumerate(load_plan(), start=1):
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


def goto(argument: str) -> int:
    from servicekit.migration.ownership import ownership_file, ownership_set
    from strangler_proxy.routes.file import TEMPLATE, RouteChange, live_routes_file, route_change

    steps = load_plan()
    last = max(chapter_number(step) for step in steps)
    if not argument.isdigit() or not 1 <= int(argument) <= last + 1:
        print(
            f"goto: a chapter number, 01 to {last:02d} ({last + 1:02d}: the end)", file=sys.stderr
        )
        return 2
    chapter = int(argument)
    routes, owners = chapter_start(steps, chapter, yaml.safe_load(TEMPLATE.read_text()))
    path = live_routes_file()
    for name, fields in routes.items():
        route_change(path, RouteChange(route=name, fields=fields))
    for entity, owner in owners.items():
        ownership_set(entity, owner)
    where = f"chapter {chapter:02d} starts" if chapter <= last else "the tutorial ends"
    print(f"routes ({path}) and owners ({ownership_file()}) as {where}:")
    for name, fields in routes.items():
        print(f"  route {name}: {fields['mode']}")
    for entity, owner in owners.items():
        print(f"  {entity}: {owner}")
    print("proxy workers reload the routes within a second; services re-read owners at once")
    return 0


def _login(proxy: str, username: str, password: str, *, attempts: int = 3) -> str:
    """An access token; a slow or busy fleet (a timeout, 429, 5xx) is asked again with backoff."""
    from servicekit.web.backoff import backoff_delay

    request = urllib.request.Request(  # noqa: S310 (the fleet's own http:// URL)
        f"{proxy}/api/v1/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
    )
    for attempt in range(1, attempts + 1):
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (the same)
                return json.load(answer)["access"]
        except urllib.error.HTTPError as error:
            if attempt == attempts or not (error.code == 429 or error.code >= 500):
                raise
        except (TimeoutError, urllib.error.URLError):
            if attempt == attempts:
                raise
        time.sleep(backoff_delay(attempt, base=1.0, cap=5.0))
    raise AssertionError("unreachable")


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _expires(token: str) -> float:
    return _claims(token)["exp"]


def _fresh(proxy: str, token: str | None) -> bool:
    """A token this terminal already holds that is worth keeping: no older than a sixth of its
    life (so it outlives a chapter nearly as a new one would) and accepted by the fleet now (a key
    retired with `--force` kills tokens before they expire). Keeping it saves two logins, each
    a deliberately slow password hash."""
    try:
        claims = _claims(token or "")
        if claims["exp"] - time.time() < (claims["exp"] - claims["iat"]) * 5 / 6:
            return False
        request = urllib.request.Request(  # noqa: S310 (the fleet's own http:// URL)
            f"{proxy}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 (the same)
            return answer.status == 200
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return False


def env_lines(environ: dict[str, str]) -> list[str]:
    """The walk's shell environment, for `eval`: every line is valid sh."""
    from servicekit.web.env import data_dir
    from servicekit.web.ports import PORTS, port_env_var

    urls = {
        name.upper(): f"http://127.0.0.1:{environ.get(port_env_var(name), default)}"
        for name, default in PORTS.items()
    }
    lines = ["# the tutorial walk's environment (migrations_plan/00-before-you-start.md)"]
    activate = ROOT / ".venv" / "bin" / "activate"
    if activate.exists():
        lines.append(f". {shlex.quote(str(activate))}")
    lines.append("export " + " ".join(f"{k}={v}" for k, v in urls.items()))
    pids = data_dir(environ=environ) / "run"
    lines.append(f"export FLEET_PIDS={shlex.quote(str(pids))}")
    expiries = []
    for variable, username, password in WALK_LOGINS:
        try:
            token = environ.get(variable)
            if not _fresh(urls["PROXY"], token):
                token = _login(urls["PROXY"], username, password)
        except (OSError, urllib.error.URLError, KeyError, ValueError) as exc:
            problem = (
                f"no {variable}: logging in as {username} at {urls['PROXY']} failed ({exc}); "
                "is make run up?"
            )
            lines.append(f"echo {shlex.quote(problem)} >&2")
            continue
        lines.append(f"export {variable}={token}")
        expiries.append(_expires(token))
    lines += [f"{name}() {{ {body}; }}" for name, body in HELPERS.items()]
    if len(expiries) == len(WALK_LOGINS):
        names = " and ".join(variable for variable, _, _ in WALK_LOGINS)
        when = time.strftime("%H:%M:%S", time.localtime(min(expiries)))
        left = int(min(expiries) - time.time())
        summary = f"fleet at {urls['PROXY']}; {names} valid until {when} (in {left} s)"
        lines.append(f"echo {shlex.quote(summary)}")
    return lines


def main(argv: list[str]) -> int:
    command = argv[:1]
    if command == ["env"] and len(argv) == 1:
        print("\n".join(env_lines(dict(os.environ))))
        return 0
    if command not in (["status"], ["goto"]) or len(argv) != (2 if command == ["goto"] else 1):
        print(USAGE, file=sys.stderr)
        return 2
    from django.conf import settings

    settings.configure()
    return status() if command == ["status"] else goto(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
