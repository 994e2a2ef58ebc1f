#!/usr/bin/env python
"""The orders service's management commands: `python extracted/orders/manage.py migrate`."""

import os
import sys
from pathlib import Path


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ["DJANGO_SETTINGS_MODULE"] = (
        "extracted.orders.settings"  # this entry point runs this service only
    )
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
