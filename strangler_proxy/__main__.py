"""`python -m strangler_proxy routes list|show|set|validate`: operate the route table."""

import os
import sys

from strangler_proxy.cli import main

# the proxy's own settings, read from the environment (errors, exports and config use them)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "strangler_proxy.settings")
sys.exit(main(sys.argv[1:]))
