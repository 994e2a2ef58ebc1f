"""Build the function's deployment package: `python -m functions.order_email.bundle [DIR]`.

Both platforms deploy one folder: the modules the function imports (its own, the event
contracts and servicekit's pure event machinery, the notifications service's email texts; no Django), a `main.py` at the root (Cloud
Run functions loads the entry point from there) and `requirements.txt`. Default DIR:
`build/order_email` (what `deploy/cloud-run.sh` and `deploy/template.yaml` point at).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEFAULT_DIR = ROOT / "build" / "order_email"

# Files the function imports, relative to the repository root (a package's __init__ with it).
SOURCES = [
    "contracts",
    # the event machinery the contracts build on (pure: no Django)
    "servicekit/__init__.py",
    "servicekit/events/__init__.py",
    "servicekit/events/envelope.py",
    "servicekit/events/event.py",
    "servicekit/events/records.py",
    "servicekit/events/types.py",
    "functions/__init__.py",
    "functions/order_email",
    "extracted/__init__.py",
    "extracted/notifications/__init__.py",
    "extracted/notifications/notifications/__init__.py",
    "extracted/notifications/notifications/emails.py",
]

MAIN = '''"""Cloud Run functions loads its entry point from main.py: the order email's."""

from functions.order_email.gcp import order_email

__all__ = ["order_email"]
'''


def bundle_build(target: Path = DEFAULT_DIR) -> Path:
    """(Re)write `target` as the deployment package; returns it."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for source in SOURCES:
        origin = ROOT / source
        if origin.is_dir():
            shutil.copytree(
                origin,
                target / source,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "deploy"),
            )
        else:
            (target / source).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target / source)
    (target / "main.py").write_text(MAIN)
    shutil.copy2(HERE / "deploy" / "requirements.txt", target / "requirements.txt")
    return target


if __name__ == "__main__":
    print(bundle_build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR))
