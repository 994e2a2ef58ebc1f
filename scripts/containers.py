"""`make containers`: podman from Debian, images built here, the compose fleet up, a smoke walk.

Installs podman, runc and debootstrap with apt-get and podman-compose into the virtualenv when
missing, builds the debootstrapped base (cached), PostgreSQL/RabbitMQ/Redis from Debian packages
(cached) and the app image from the Dockerfile, starts docker-compose.yml's fleet with podman,
walks it through the proxy and tears it down, also on failure. `--cold` forgets the images first.
`STRANGLER_MTLS=on make containers` runs the fleet under the mTLS switch (docs/mtls.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from deploy.podman import engine
from deploy.podman.fleet import compose_fleet
from deploy.podman.smoke import Walk
from servicekit.web.tls import mtls_enabled


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="remove the cached images first")
    args = parser.parse_args(argv)
    reason = engine.why_unavailable()
    if reason:
        print(f"containers: cannot run here: {reason}")
        return 1
    started = time.monotonic()
    engine.ensure_installed()
    if args.cold:
        engine.remove_images()
    with compose_fleet(mtls=mtls_enabled()) as fleet:
        up = time.monotonic() - started
        engine.log(f"fleet ready after {up:.0f}s; smoke walk through {fleet.urls['proxy']}")
        for line in Walk(fleet).run():
            engine.log(f"ok: {line}")
    engine.log(f"{'cold' if args.cold else 'warm'} run: {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
