"""Install the Debian packages each polyglot implementation builds with (issue 19).

    python scripts/polyglot_toolchains.py [name ...]   # default: every implementation

Only what is missing, with apt-get (root, as on the build machine); the shared tests
(tests/polyglot/conftest.py) do the same before they build. The packages are listed once, in
tests/polyglot/implementations.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.polyglot.implementations import IMPLEMENTATIONS


def main(names: list[str]) -> int:
    for name in names or list(IMPLEMENTATIONS):
        impl = IMPLEMENTATIONS[name]
        installed = impl.toolchain_install()
        print(f"{name}: " + (f"installed {' '.join(installed)}" if installed else "ready"))
        if impl.missing_tools():
            print(f"{name}: still missing {impl.missing_tools()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
