"""`python -m deploy.generate [--check]` from the repository root."""

import sys

from deploy.generate.output import main

sys.exit(main(sys.argv[1:]))
