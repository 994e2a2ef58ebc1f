"""`python -m servicekit.ownership_cli [show | set ENTITY OWNER]`: read or flip the live
ownership file (`$OWNERSHIP_FILE`, else `<data folder>/ownership.yaml`; or the shared control
store's copy with `$STRANGLER_CONTROL_STORE`) without a service's
settings. Prefer the services' takeover commands: they freeze writes and wait for the copies
to agree before they flip."""

from __future__ import annotations

import argparse

from django.conf import settings


def main(argv: list[str] | None = None) -> int:
    if not settings.configured:
        settings.configure()
    from servicekit.migration.ownership import ENTITIES, ownership, ownership_file, ownership_flip
    from servicekit.web.control_store import ReplicasLagging, control_settings

    parser = argparse.ArgumentParser(prog="python -m servicekit.ownership_cli")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("show")
    setter = sub.add_parser("set")
    setter.add_argument("entity", choices=ENTITIES)
    setter.add_argument("owner")
    args = parser.parse_args(argv)
    applied = None
    if args.command == "set":
        try:
            table, applied = ownership_flip(args.entity, args.owner)
        except ReplicasLagging as exc:
            print(f"error: {exc}")
            return 3
    else:
        table = ownership(follow=False)
    store = control_settings().store
    print(f"{store.split('@')[-1] + ' (shared store)' if store else ownership_file()}:")
    for entity, owner in table.items():
        print(f"  {entity}: {owner}")
    if applied is not None:
        print(applied.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
