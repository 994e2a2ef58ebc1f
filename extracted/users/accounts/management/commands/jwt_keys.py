"""`jwt_keys show | rotate | retire`: the signing key ring (servicekit/web/jwt/keyring.py).

`rotate` makes a new active key and keeps the old one published (and accepted) for the longest
token lifetime (refresh TTL + leeway); `retire` drops previous keys whose time has passed
(`--force`: now, e.g. after a leak, which invalidates every token they signed). Every issuer
sharing the ring folder, and every verifier of its JWKS, follows without a restart.
"""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from servicekit.web.jwt.conf import key_ring, max_token_lifetime, ring_state


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


class Command(BaseCommand):
    help = "Show, rotate or retire the JWT signing keys."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["show", "rotate", "retire"])
        parser.add_argument("--force", action="store_true", help="retire every previous key now")

    def handle(self, *args, action, force, **options):
        ring = key_ring()
        if ring is None:
            raise CommandError("no key ring configured (SERVICEKIT_JWT KEYS_DIR / JWT_KEYS_DIR)")
        ring_state()  # an empty ring gets its first key (or the configured one)
        if action == "rotate":
            ring.rotate(lifetime=max_token_lifetime())
        elif action == "retire":
            gone = ring.retire(force=force)
            self.stdout.write(f"retired: {', '.join(gone)}" if gone else "nothing to retire")
        state = ring_state()
        self.stdout.write(f"active: {state.active.kid}")
        for kid, until in sorted(state.previous.items(), key=lambda item: item[1]):
            self.stdout.write(f"previous: {kid} (published until {_when(until)})")
