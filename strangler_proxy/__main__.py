"""`python -m strangler_proxy routes list|show|set|validate` (the `strangler-proxy` command)."""

import os
import sys


def main() -> None:
    # The proxy's own settings, read from the environment (errors, exports and config use them),
    # even when a service's command runs this CLI with its own DJANGO_SETTINGS_MODULE inherited
    # (servicekit/migration/proxy_routes.py: a takeover's `--route`). Set before any import.
    os.environ["DJANGO_SETTINGS_MODULE"] = "strangler_proxy.settings"

    from strangler_proxy.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
