"""`make prometheus`: Debian's Prometheus scraping the fleet `make run` starts (run both).

Targets are the Procfile's HTTP processes on their port-map ports (servicekit/web/ports.py), with
the alert rules of deploy/prometheus/alerts.yml. Installs Debian's package when it is missing.
With `STRANGLER_MTLS=on` (docs/mtls.md) it scrapes the services as `make run` serves them then:
over https, presenting the `prometheus` certificate (issued when missing), the proxy over http.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicekit.web.ports import PORTS, path_of  # noqa: E402
from servicekit.web.procfile import bind_of, read_procfile  # noqa: E402
from servicekit.web.tls import ca_cert_path, identity_path, mtls_enabled  # noqa: E402
from servicekit.web.tls.ca import ca_init, identity_issue  # noqa: E402
from servicekit.web.tls.fleet import EDGE, owner_of  # noqa: E402

TLS_NAME = "prometheus"

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def fleet_ports() -> dict[str, int]:
    """HTTP processes `make run` starts, on their port-map ports."""
    processes = read_procfile(ROOT / "Procfile")
    return {name: PORTS[name] for name, command in processes.items() if bind_of(command)}


def scrape_tls(environ=None) -> dict[str, str] | None:
    """The files for scraping over mTLS (the CA and the `prometheus` certificate, made when
    missing), or None when the switch is off."""
    if not mtls_enabled(environ=environ):
        return None
    ca_init(environ=environ)
    identity = identity_path(TLS_NAME, environ=environ)
    if not identity.exists():
        identity_issue(TLS_NAME, environ=environ)
    # one file holds the key and the certificate: Prometheus takes each block it needs from it
    return {
        "ca_file": str(ca_cert_path(environ=environ)),
        "cert_file": str(identity),
        "key_file": str(identity),
    }


def _job(name: str, port: int, tls: dict[str, str] | None) -> dict:
    job = {
        "job_name": name,
        "metrics_path": path_of(name, "metrics"),
        "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"process": name}}],
    }
    if tls and name != EDGE:  # make run serves every HTTP process but the proxy over mTLS
        # the certificate carries its service's name, whatever address the target has
        job |= {"scheme": "https", "tls_config": {**tls, "server_name": owner_of(name)}}
    return job


def config_for(
    ports: dict[str, int],
    *,
    rules: Path = ALERTS,
    interval: str = "15s",
    tls: dict[str, str] | None = None,
) -> dict:
    """One scrape job per HTTP process (each has its own metrics path), plus the alert rules;
    with `tls` (scrape_tls), the services' jobs over https with a client certificate."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules)],
        "scrape_configs": [_job(name, port, tls) for name, port in sorted(ports.items())],
    }


def ensure_installed() -> str:
    """The prometheus binary, installed from Debian's package when missing (needs root)."""
    found = shutil.which("prometheus")
    if found:
        return found
    if os.geteuid() != 0:
        raise SystemExit("prometheus is not installed: sudo apt-get install -y prometheus")
    print("-> installing Debian's prometheus package", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    apt = ["apt-get", "install", "-y", "--no-install-recommends", "prometheus"]
    if subprocess.call(apt, env=env) != 0:
        subprocess.check_call(["apt-get", "update"], env=env)
        subprocess.check_call(apt, env=env)
    return shutil.which("prometheus") or "/usr/bin/prometheus"


def start(config: dict, *, folder: Path, port: int, stdout=None, stderr=None) -> subprocess.Popen:
    """Writes the config under `folder` and starts Prometheus listening on 127.0.0.1:`port`."""
    binary = ensure_installed()
    folder.mkdir(parents=True, exist_ok=True)
    config_path = folder / "prometheus.yml"
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [
        binary,
        f"--config.file={config_path}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
    ]
    return subprocess.Popen(command, stdout=stdout, stderr=stderr)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--folder", type=Path, default=ROOT / "var" / "prometheus")
    args = parser.parse_args(argv)
    ports = fleet_ports()
    tls = scrape_tls()
    print(
        f"Prometheus on http://127.0.0.1:{args.port}/targets scraping {ports}"
        + (" over mTLS" if tls else ""),
        flush=True,
    )
    process = start(config_for(ports, tls=tls), folder=args.folder, port=args.port)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
