"""Container entry point: `<process>` runs that Procfile process; `manage ...` runs django-admin;
`edge` runs nginx fed the route table (edge.py, the compose fleet's nginx plane).

The image holds every service; the command picks one (`docker run strangler monolith`,
`command: ["monolith-worker"]` in compose, `args: ["proxy"]` in k8s).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from servicekit.web.procfile import bind_of, read_procfile, with_bind_host

APP = Path(os.environ.get("STRANGLER_APP_DIR", "/app"))
# The image's one command that is no Procfile process: nginx on the proxy's port, fed the route
# table (the compose fleet's edge; `make run --plane nginx` starts it beside the Procfile's).
EDGE = "edge"
STATE = Path("/tmp/strangler-process")  # noqa: S108 - read by healthcheck.py in this container


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit("usage: entrypoint.py <procfile process> | manage <django-admin args>")
    if argv[0] == "manage":
        os.execvp("django-admin", ["django-admin", *argv[1:]])  # noqa: S606 - PATH is the image venv
    if argv[0] == EDGE:
        STATE.write_text(f"{EDGE}\n")
        os.execvp("python", ["python", str(APP / "deploy" / "container" / "edge.py")])  # noqa: S606
    processes = read_procfile(APP / "Procfile")
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
