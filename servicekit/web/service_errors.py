"""What services raise when a business rule refuses a request: plain exceptions, no HTTP.

Kept apart from servicekit.web.errors (the problem+json side, which imports DRF) so that code
raising or catching them (the ownership registry, scripts/plan.py) starts without DRF.
"""

from __future__ import annotations


class ApplicationError(Exception):
    """A business rule refused the request. Raised by services, which know nothing of HTTP.

    `code` is stable and machine-readable, `message` is for people, `details` land in the
    problem body as-is. The problem+json handler owns the HTTP status (`status_for`).
    """

    code = "conflict"
    title = "Conflict"
    retry_after: int | None = None  # seconds after which trying again may succeed

    def __init__(self, message: str, *, code: str | None = None, details: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or {}


class NotFoundError(ApplicationError):
    code = "not_found"
    title = "Not found"


class UnauthorizedError(ApplicationError):
    code = "not_authenticated"
    title = "Not authenticated"


class UnavailableError(ApplicationError):
    """A dependency this request needs is out of reach for now; trying again later may succeed."""

    code = "unavailable"
    title = "Temporarily unavailable"
    retry_after = 2


class InvalidInputError(ApplicationError):
    """Input that passed the serializer but breaks a rule (bad filter, bad transition request)."""

    code = "invalid"
    title = "Invalid request"


# SQLSTATEs of class 40 (transaction rollback) whose transaction PostgreSQL rolled back whole and
# that a second try is expected to get through. 40003 (statement completion unknown) is not one.
ROLLED_BACK_SQLSTATES = {
    "40001": "a serialization failure",
    "40P01": "a deadlock",
}


def rolled_back_conflict(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (Django's, raised from the driver's) whose transaction
    the database rolled back to resolve a conflict with a concurrent one, else None."""
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    return sqlstate if sqlstate in ROLLED_BACK_SQLSTATES else None


class TransactionConflict(UnavailableError):
    """The database rolled the request's transaction back to resolve a conflict with a concurrent
    one (a deadlock, a serialization failure): sending the request again is expected to work."""

    code = "transaction_conflict"
    title = "Conflicting transaction"
    retry_after = 1


def transaction_conflict(exc: BaseException) -> TransactionConflict | None:
    """The service error for a database error whose transaction was rolled back to resolve a
    conflict (`rolled_back_conflict`), else None. Raised where a service gives up retrying; the
    API handler also maps one that reaches it unconverted."""
    sqlstate = rolled_back_conflict(exc)
    if sqlstate is None:
        return None
    return TransactionConflict(
        f"The database rolled this request's transaction back to resolve "
        f"{ROLLED_BACK_SQLSTATES[sqlstate]} with a concurrent request; send it again.",
        details={"sqlstate": sqlstate},
    )


class DatabaseUnavailable(UnavailableError):
    """No connection to the service's database could be had in time: its pool stayed busy for
    `DATABASE_POOL_TIMEOUT` seconds, or the server refused one (too many clients, starting up,
    down). Nothing was written; sending the request again later may succeed."""

    code = "database_unavailable"
    title = "Database unavailable"
    retry_after = 2


def database_unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The service error for a database error raised while getting a connection, else None."""
    cause = exc.__cause__
    if cause is None or getattr(cause, "sqlstate", None) is not None:
        return None
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:  # no PostgreSQL driver here: not a PostgreSQL error either
        return None
    if isinstance(cause, PoolTimeout):
        why = "no connection of the service's pool was free in time"
    elif str(cause).startswith("connection failed:"):  # psycopg's word for a refused connect
        why = "the database server refused a connection"
    else:
        return None
    return DatabaseUnavailable(
        f"The service could not reach its database ({why}); nothing was changed. Try again "
        f"in {DatabaseUnavailable.retry_after} s."
    )
