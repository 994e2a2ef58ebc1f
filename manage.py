#!/usr/bin/env python
"""Runs the monolith's management commands (`python manage.py runserver` on a fresh clone)."""

import os
import sys


def main() -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = (
        "monolith.settings"  # this entry point runs this service only
    )
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
