"""Where the live route table is: one answer for the proxy, its CLI and `make run`.

`$STRANGLER_ROUTES_FILE` when set (tests, containers, a Kubernetes ConfigMap), else
`<data folder>/routes.yaml`, made from the packaged template the first time, so that flipping a
route at run time never edits the repository's copy.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from servicekit.web.env import data_dir

TEMPLATE = Path(__file__).resolve().parent / "routes.yaml"


def live_routes_file(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    configured = environ.get("STRANGLER_ROUTES_FILE")
    if configured:
        return Path(configured)
    path = data_dir(environ=environ) / "routes.yaml"
    if not path.exists():
        tmp = path.with_name("routes.yaml.tmp")
        shutil.copyfile(TEMPLATE, tmp)
        os.replace(tmp, path)
    return path
