"""Container entry point: `<process>` runs that Procfile process; `manage ...` runs django-admin;
`edge` runs nginx fed the route table (edge.py, the compose fleet's nginx plane); `certificates`
makes the fleet's CA and a certificate per service where missing, and exits.

With `STRANGLER_MTLS=on` a process runs as `make run` runs it under mTLS (docs/mtls.md,
servicekit.web.tls.fleet): its service's certificate, gunicorn serving HTTPS that requires a
client certificate (every HTTP process but the proxy), and the internal URLs turned https.

The image holds every service; the command picks one (`docker run strangler monolith`,
`command: ["monolith-worker"]` in compose, `args: ["proxy"]` in k8s).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import MutableMapping
from pathlib import Path

from servicekit.web.procfile import bind_of, read_procfile, with_bind_host
from servicekit.web.tls import mtls_enabled
from servicekit.web.tls.fleet import fleet_mtls

APP = Path(os.environ.get("STRANGLER_APP_DIR", "/app"))
# The image's one command that is no Procfile process: nginx on the proxy's port, fed the route
# table (the compose fleet's edge; `make run --plane nginx` starts it beside the Procfile's).
EDGE = "edge"
CERTIFICATES = "certificates"
STATE = Path("/tmp/strangler-process")  # noqa: S108 - read by healthcheck.py in this container


def under_mtls(processes: dict[str, str], environ: MutableMapping[str, str]) -> dict[str, str]:
    """The Procfile's commands, under mTLS when the switch is on in `environ` (whose internal
    URLs then become https); as they are when it is off. The certificates are made where
    missing: in compose the `certificates` one-shot made them all before."""
    return fleet_mtls(environ, processes) if mtls_enabled(environ=environ) else processes


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: entrypoint.py <procfile process> | manage <django-admin args>")
    if argv[0] == "manage":
        os.execvp("django-admin", ["django-admin", *argv[1:]])  # noqa: S606 - PATH is the image venv
    processes = read_procfile(APP / "Procfile")
    if argv[0] == CERTIFICATES:
        fleet_mtls(dict(os.environ), processes)
        print(f"certificates in {os.environ.get('STRANGLER_TLS_DIR', 'the data folder')}")
        return
    processes = under_mtls(processes, os.environ)
    if argv[0] == EDGE:  # nginx presents the proxy's certificate to https upstreams
        STATE.write_text(f"{EDGE}\n")
        os.execvp("python", ["python", str(APP / "deploy" / "container" / "edge.py")])  # noqa: S606
    name = argv[0]
    if name not in processes:
        sys.exit(f"unknown process {name!r}; the Procfile has: {', '.join(processes)}")
    command = processes[name]
    bind_host = os.environ.setdefault("BIND_HOST", "0.0.0.0")  # noqa: S104
    if bind_of(command):
        command = with_bind_host(command, bind_host)
    # Gunicorn's workers share their metrics through this folder; stale files from a previous
    # run of the container would be summed in, so start empty.
    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc:
        shutil.rmtree(multiproc, ignore_errors=True)
        Path(multiproc).mkdir(parents=True, exist_ok=True)
    STATE.write_text(f"{name}\n{command}\n")
    os.execvp("sh", ["sh", "-c", f"exec {command}"])  # noqa: S606 - PATH is the image venv


if __name__ == "__main__":
    main(sys.argv[1:])
