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
