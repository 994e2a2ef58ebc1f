"""`python -m strangler_proxy routes list|show|set|validate`: operate the route table."""

import sys

from strangler_proxy.cli import main

sys.exit(main(sys.argv[1:]))
