"""The monolith's side of account reconciliation once the users service owns accounts
(servicekit/migration/reconcile.py): the users service's export is the peer; our copy is
repaired through the consumer's apply functions."""

from __future__ import annotations

from contracts.users import UserCreatedV1, UserPasswordChangedV1
from monolith.users import services
from monolith.users.models import User
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


class UserMirror(ReconcileAdapter):
    name = entity = "user"
    peer = "users"
    export_path = "/api/v1/users/export/"
    rows = "users"
    fields = USER_FIELDS
    consumer, aggregate_type = "monolith.users", "user"

    def local_rows(self, keys):
        rows = {}
        for row in User.objects.filter(pk__in=[int(k) for k in keys]).values(
            "id", "password", *USER_FIELDS[:-1]
        ):
            row["password_hash"] = row.pop("password")
            rows[str(row["id"])] = row
        return rows

    def local_keys(self):
        return (str(pk) for pk in User.objects.values_list("pk", flat=True).iterator())

    def apply(self, row):
        services.user_apply_created(
            UserCreatedV1(
                user_id=row["id"],
                **{k: row[k] for k in USER_FIELDS[:-1]},
                date_joined=row["date_joined"],
            )
        )
        services.user_apply_password_changed(
            UserPasswordChangedV1(user_id=row["id"], password_hash=row["password_hash"])
        )

    def remove(self, key):
        return False  # an account only the monolith has may hold orders: a person decides
