"""The compose fleet's edge (`edge` in docker-compose.yml): nginx serving the route table.

The configuration is exported from the live route table (`routes.yaml` in the Python proxy's
data folder, a volume it shares with this container), nginx starts on it, and every later change
of that file (`routes set`, the admin API, the control centre, the lifecycle gates, all made in
the proxy container) is followed by strangler_proxy.export.publish.publish: the configuration regenerated under the
table's lock and nginx reloaded gracefully, the code `make run --plane nginx` runs after a change.
The change is seen within POLL seconds (the writer is another container: no signal reaches here).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

os.environ["DJANGO_SETTINGS_MODULE"] = "strangler_proxy.settings"  # the exporter's settings

from servicekit.web.files import file_version
from strangler_proxy.config import ProxyConfig, current
from strangler_proxy.export.publish import ReloadFailed, publish
from strangler_proxy.routes.file import live_routes_file
from strangler_proxy.routes.load import RouteTableError

POLL = 0.5  # seconds between looks at the route table file
START_TIMEOUT = 120  # seconds nginx may refuse the configuration at start (upstream names)
logger = logging.getLogger("deploy.container.edge")


def nginx_command(conf: Path) -> list[str]:
    """nginx from Debian's package, its pid, logs and temp folders beside its configuration;
    errors before the configuration is read go to stderr (nginx runs as the image's user)."""
    return ["nginx", "-e", "stderr", "-p", str(conf.parent), "-c", str(conf)]


def wait_until_valid(command: list[str]) -> None:
    """`nginx -t` until it passes: at start the upstreams' names may not resolve yet."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        test = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True, check=False)
        if test.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"nginx refuses its configuration: {test.stderr.strip()[-800:]}")
        time.sleep(1)


def serve(config: ProxyConfig) -> int:
    if not config.nginx_conf:
        raise SystemExit("edge: STRANGLER_NGINX_CONF names the configuration nginx is fed")
    routes = live_routes_file()  # seeded from the packaged table if nothing wrote it yet
    command = nginx_command(Path(config.nginx_conf))
    last = file_version(routes)
    publish(routes, dataclasses.replace(config, nginx_reload=""))  # nginx is not running yet
    wait_until_valid(command)
    config = dataclasses.replace(config, nginx_reload=shlex.join([*command, "-s", "reload"]))
    nginx = subprocess.Popen([*command, "-g", "daemon off;"])

    def stop(signum: int, _frame: object) -> None:
        nginx.send_signal(signal.SIGQUIT)  # graceful: requests in flight are finished

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while nginx.poll() is None:
        time.sleep(POLL)
        now = file_version(routes)
        if now == last:
            continue
        last = now
        try:
            publish(routes, config)
            logger.info("route table changed: nginx regenerated and reloaded")
        except (ReloadFailed, RouteTableError, OSError, subprocess.TimeoutExpired) as exc:
            logger.error("route table changed, nginx kept its previous configuration: %s", exc)
    return nginx.returncode


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="edge: %(message)s", stream=sys.stderr)
    return serve(current())


if __name__ == "__main__":
    sys.exit(main())
