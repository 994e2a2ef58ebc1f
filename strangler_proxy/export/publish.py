"""Keeping the nginx plane live: after every change of the route table, its configuration is
generated again from the file as it now is and nginx is told to reload (gracefully: old workers
finish what they serve). Configured by STRANGLER_NGINX_CONF and STRANGLER_NGINX_RELOAD."""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from servicekit.web.files import atomic_write, file_lock
from servicekit.web.tls import client_files
from strangler_proxy.config import ProxyConfig, current
from strangler_proxy.routes.load import load_table

if TYPE_CHECKING:
    from strangler_proxy.export.nginx import NginxOptions

logger = logging.getLogger("strangler_proxy.export")


class ReloadFailed(RuntimeError):
    """The configuration was written but nginx refused it or could not be told."""


def nginx_options(config: ProxyConfig) -> NginxOptions:
    from strangler_proxy.export.nginx import NginxOptions, UpstreamTls

    files = client_files()  # nginx presents the proxy's certificate, as the Python proxy does
    upstream_tls = UpstreamTls(identity=str(files[0]), trusted_ca=str(files[1])) if files else None
    return NginxOptions(
        upstream_tls=upstream_tls,
        listen=config.nginx_listen,
        max_body=config.max_body,
        client_timeout=config.nginx_client_timeout,
        admin_only_paths=tuple(config.admin_only_paths),
        comparator=config.nginx_comparator,
    )


def publish(routes_file: str | os.PathLike[str], config: ProxyConfig | None = None) -> Path | None:
    """Regenerate and reload when the nginx plane is configured (else do nothing, return None).

    Under the routes file's lock, from the file as it is then: two changes landing together
    always leave nginx with the later table, never an older one written last."""
    config = config or current()
    if not config.nginx_conf:
        return None
    # imported here: the route CLI, which installs this hook, starts without the exporter's
    # imports (a takeover runs that CLI within its freeze window)
    from strangler_proxy.export.nginx import render

    target = Path(config.nginx_conf)
    with file_lock(routes_file):
        atomic_write(target, render(load_table(routes_file), nginx_options(config)))
        if config.nginx_reload:
            done = subprocess.run(
                shlex.split(config.nginx_reload),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode != 0:
                raise ReloadFailed(
                    f"{config.nginx_reload!r} exited {done.returncode}: {done.stderr.strip()[-500:]}"
                )
    logger.info("nginx configuration regenerated at %s", target)
    return target


def publish_after_change(routes_file: Path, route: str) -> None:
    """The route table's after-change hook (strangler_proxy.routes.file.AFTER_CHANGE)."""
    try:
        publish(routes_file)
    except (ReloadFailed, OSError, subprocess.TimeoutExpired) as exc:
        logger.error("route %s changed, but the nginx plane was not reloaded: %s", route, exc)


def install() -> None:
    """Keep the nginx plane following every route change made in this process (idempotent);
    the composition roots call it: the proxy's runtime and the CLI."""
    from strangler_proxy.routes.file import AFTER_CHANGE

    if publish_after_change not in AFTER_CHANGE:
        AFTER_CHANGE.append(publish_after_change)
