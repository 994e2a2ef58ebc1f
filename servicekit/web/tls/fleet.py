"""`make run` with `STRANGLER_MTLS=on`: the Procfile's commands and URLs under mTLS.

Every gunicorn-served service but the proxy (the public edge stays plain HTTP, or a TLS
terminator's business) gets the flags of servicekit.web.tls.gunicorn_args; every process learns
its certificate name (`STRANGLER_TLS_NAME`: the service it belongs to, `catalog-worker` ->
`catalog`); the internal URLs (`STRANGLER_<NAME>_URL`, which the route table and the services'
clients read) become https. The CA and the missing certificates are made on the way.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, MutableMapping

from servicekit.web.ports import PORTS
from servicekit.web.procfile import bind_of
from servicekit.web.tls import gunicorn_args, https_url, identity_path
from servicekit.web.tls.ca import ca_init, identity_issue

EDGE = "proxy"


def owner_of(process: str) -> str:
    """The service a Procfile process belongs to (its certificate name)."""
    for name in PORTS:
        if process == name or process.startswith(f"{name}-"):
            return name
    return process


def mtls_processes(processes: Mapping[str, str], *, environ: Mapping[str, str]) -> dict[str, str]:
    """The commands under mTLS (pure: reads no file)."""
    out = {}
    for name, command in processes.items():
        owner = owner_of(name)
        if bind_of(command) and name != EDGE:
            command = f"{command} {shlex.join(gunicorn_args(owner, environ=environ))}"
        out[name] = f"env STRANGLER_TLS_NAME={shlex.quote(owner)} {command}"
    return out


def fleet_mtls(env: MutableMapping[str, str], processes: Mapping[str, str]) -> dict[str, str]:
    """Certificates made where missing, https internal URLs in `env`, the commands returned."""
    ca_init(environ=env)
    for owner in sorted({owner_of(name) for name in processes} | {EDGE}):
        if not identity_path(owner, environ=env).exists():
            identity_issue(owner, environ=env)
    served = {owner_of(n) for n, c in processes.items() if bind_of(c) and n != EDGE}
    for name in served & set(PORTS):
        key = f"STRANGLER_{name.upper()}_URL"
        if key in env:
            env[key] = https_url(env[key])
    if "JWKS_URL" in env and "monolith" in served:
        env["JWKS_URL"] = https_url(env["JWKS_URL"])
    return mtls_processes(processes, environ=env)
