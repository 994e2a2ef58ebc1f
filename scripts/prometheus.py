"""`make prometheus`: Debian's Prometheus scraping the fleet `make run` starts (run both).

Targets are the Procfile's HTTP processes on their port-map ports (servicekit/web/ports.py), with
the alert rules of deploy/prometheus/alerts.yml. Installs Debian's package when it is missing.
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

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"


def fleet_ports() -> dict[str, int]:
    """HTTP processes `make run` starts, on their port-map ports."""
    processes = read_procfile(ROOT / "Procfile")
    return {name: PORTS[name] for name, command in processes.items() if bind_of(command)}


def config_for(ports: dict[str, int], *, rules: Path = ALERTS, interval: str = "15s") -> dict:
    """One scrape job per HTTP process (each has its own metrics path), plus the alert rules."""
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": name,
                "metrics_path": path_of(name, "metrics"),
                "static_configs": [{"targets": [f"127.0.0.1:{port}"], "labels": {"process": name}}],
            }
            for name, port in sorted(ports.items())
        ],
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
    print(f"Prometheus on http://127.0.0.1:{args.port}/targets scraping {ports}", flush=True)
    process = start(config_for(ports), folder=args.folder, port=args.port)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        return process.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
