"""`python -m servicekit.ownership_cli [show | set ENTITY OWNER]`: read or flip the live
ownership file (`$OWNERSHIP_FILE`, else `<data folder>/ownership.yaml`) without a service's
settings. Prefer the services' takeover commands: they freeze writes and wait for the copies
to agree before they flip."""

from __future__ import annotations

import argparse

from django.conf import settings


def main(argv: list[str] | None = None) -> int:
    if not settings.configured:
        settings.configure()
    from servicekit.migration.ownership import ENTITIES, ownership, ownership_file, ownership_set

    parser = argparse.ArgumentParser(prog="python -m servicekit.ownership_cli")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("show")
    setter = sub.add_parser("set")
    setter.add_argument("entity", choices=ENTITIES)
    setter.add_argument("owner")
    args = parser.parse_args(argv)
    table = ownership_set(args.entity, args.owner) if args.command == "set" else ownership()
    print(f"{ownership_file()}:")
    for entity, owner in table.items():
        print(f"  {entity}: {owner}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
