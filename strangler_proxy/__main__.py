"""`python -m strangler_proxy routes list|show|set|validate`: operate the route table."""

import os
import sys

# The proxy's own settings, read from the environment (errors, exports and config use them),
# even when a service's command runs this CLI with its own DJANGO_SETTINGS_MODULE inherited
# (servicekit/migration/proxy_routes.py: a takeover's `--route`). Set before any import.
os.environ["DJANGO_SETTINGS_MODULE"] = "strangler_proxy.settings"

from strangler_proxy.cli import main

sys.exit(main(sys.argv[1:]))
