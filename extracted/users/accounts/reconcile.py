"""The users service's side of account reconciliation (servicekit/migration/reconcile.py): the
monolith's staff export is the peer; our copy is repaired through the consumer's apply path."""

from __future__ import annotations

from extracted.users.accounts.backfill import user_row_apply
from extracted.users.accounts.models import User
from servicekit.migration.reconcile import ReconcileAdapter

USER_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "is_staff",
    "is_active",
    "password_hash",
)


def user_rows(query) -> dict[str, dict]:
    """Accounts by id, export-shaped (the hash under `password_hash`)."""
    rows = {}
    for row in query.values("id", "password", *USER_FIELDS[:-1]):
        row["password_hash"] = row.pop("password")
        rows[str(row["id"])] = row
    return rows


class UserMirror(ReconcileAdapter):
    name = entity = "user"
    peer = "monolith"
    export_path = "/api/v1/users/export/"
    rows = "users"
    fields = USER_FIELDS
    consumer, aggregate_type = "users", "user"

    def local_rows(self, keys):
        return user_rows(User.objects.filter(pk__in=[int(k) for k in keys]))

    def local_keys(self):
        return (str(pk) for pk in User.objects.values_list("pk", flat=True).iterator())

    def apply(self, row):
        user_row_apply(row)

    def remove(self, key):
        return False  # an account only we have may hold tokens and orders: a person decides
