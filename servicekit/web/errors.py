"""One error format for every API: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import sys
from typing import Any

import structlog
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.views import csrf
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

# The body's shape, no Django (gunicorn's worker writes it too); imported from here as well.
from servicekit.web.problems import PROBLEM_CONTENT_TYPE, problem

# Raised by services (no HTTP there); imported from here too.
from servicekit.web.service_errors import (
    ApplicationError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    UnavailableError,
    database_unavailable,
    transaction_conflict,
)

# The HTTP side of service errors, owned here and nowhere else: first by code, then by kind
# (the nearest class in the error's ancestry), else 409 Conflict.
STATUS_BY_CODE: dict[str, int] = {
    "idempotency_key_reused": status.HTTP_422_UNPROCESSABLE_ENTITY,
    "handover_in_progress": status.HTTP_503_SERVICE_UNAVAILABLE,
    "owner_moving": status.HTTP_503_SERVICE_UNAVAILABLE,
}
STATUS_BY_KIND: dict[type[ApplicationError], int] = {
    NotFoundError: status.HTTP_404_NOT_FOUND,
    UnauthorizedError: status.HTTP_401_UNAUTHORIZED,
    InvalidInputError: status.HTTP_400_BAD_REQUEST,
    UnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
}


def status_for(error: ApplicationError) -> int:
    """The HTTP status a service error answers with."""
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    for kind in type(error).__mro__:
        if kind in STATUS_BY_KIND:
            return STATUS_BY_KIND[kind]
    return status.HTTP_409_CONFLICT


def flatten_validation_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """Turn DRF's nested error dicts/lists into `[{"field": "lines.0.sku", ...}]`."""
    errors: list[dict[str, str]] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = prefix if key in ("non_field_errors", "__all__") else _join(prefix, str(key))
            errors.extend(flatten_validation_errors(value, name))
    elif isinstance(detail, list):
        if all(isinstance(item, (str, exceptions.ErrorDetail)) for item in detail):
            for item in detail:
                errors.append(_field_error(prefix, item))
        else:
            for index, item in enumerate(detail):
                if item:
                    errors.extend(flatten_validation_errors(item, _join(prefix, str(index))))
    else:
        errors.append(_field_error(prefix, detail))
    return errors


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _field_error(field: str, item: Any) -> dict[str, str]:
    return {
        "field": field or "non_field_errors",
        "code": getattr(item, "code", None) or "invalid",
        "message": str(item),
    }


_TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


def title_for(status_code: int) -> str:
    return _TITLES.get(status_code, "Error")


def _request_id(request: HttpRequest | None) -> str | None:
    return getattr(request, "request_id", None) if request is not None else None


def application_problem(
    request: HttpRequest | None, exc: ApplicationError
) -> tuple[int, dict[str, Any]]:
    """A service error's status and problem body: its code, title, message and `details`."""
    status_code = status_for(exc)
    return status_code, problem(
        status_code=status_code,
        code=exc.code,
        title=exc.title,
        detail=exc.message,
        instance=request.path if request is not None else None,
        request_id=_request_id(request),
        **exc.details,
    )


def application_error_response(request: HttpRequest, exc: ApplicationError) -> JsonResponse:
    """A service error answered outside DRF (a plain Django view, a decorator, middleware): the
    same problem+json and `Retry-After` as the DRF handler gives it."""
    status_code, body = application_problem(request, exc)
    response = JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)
    if exc.retry_after:
        response["Retry-After"] = str(exc.retry_after)
    return response


def problem_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF `EXCEPTION_HANDLER`: every error leaves as problem+json, validation errors name fields."""
    request = context.get("request")
    instance = request.path if request is not None else None

    if isinstance(exc, OperationalError) and (conflict := transaction_conflict(exc)):
        structlog.get_logger(__name__).warning(
            "transaction_conflict", sqlstate=conflict.details["sqlstate"], error=str(exc).strip()
        )
        exc = conflict
    elif isinstance(exc, OperationalError) and (unreachable := database_unavailable(exc)):
        structlog.get_logger(__name__).warning("database_unavailable", error=str(exc).strip())
        exc = unreachable
    if isinstance(exc, ApplicationError):
        status_code, body = application_problem(request, exc)
        response = Response(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)
        if exc.retry_after:
            response["Retry-After"] = str(exc.retry_after)
        return response

    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers (JSON for APIs).

    status_code = response.status_code
    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_validation_errors(exc.detail)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "Invalid input."
        body = problem(
            status_code=status_code,
            code="validation_error",
            title=title_for(status_code),
            detail=detail,
            instance=instance,
            request_id=_request_id(request),
            errors=errors,
        )
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(exc, "default_code", "error")
        if isinstance(detail, exceptions.ErrorDetail):
            code = detail.code or code
        body = problem(
            status_code=status_code,
            code=str(code),
            title=title_for(status_code),
            detail=str(detail),
            instance=instance,
            request_id=_request_id(request),
        )
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_response(
    request: HttpRequest, status_code: int, code: str, detail: str
) -> JsonResponse:
    """A problem+json response built outside DRF (URL resolver misses, 500s, middleware)."""
    body = problem(
        status_code=status_code,
        code=code,
        title=title_for(status_code),
        detail=detail,
        instance=request.path,
        request_id=_request_id(request),
    )
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


@csrf_exempt  # it changes nothing: a POST to an unknown path is a 404, never a CSRF 403
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Catch-all for unknown paths under an API prefix, so clients never get an HTML 404."""
    return problem_response(request, 404, "not_found", f"No API endpoint at {request.path}.")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """`CSRF_FAILURE_VIEW`: a problem for API paths (whatever authenticated the caller), Django's
    page for HTML forms."""
    if request.path.startswith("/api/"):
        return problem_response(request, 403, "csrf_failed", f"CSRF check failed: {reason}")
    return csrf.csrf_failure(request, reason=reason)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """`handler500`: a JSON problem for API paths, a plain page for HTML; never a traceback.

    Django calls it while handling the error, so the error is at hand: a database out of reach
    (middleware reading a session, a plain Django view) answers 503 with Retry-After, as the DRF
    handler does."""
    api = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError) and (unreachable := database_unavailable(error)):
        if api:
            return application_error_response(request, unreachable)
        response = HttpResponse(
            "<!doctype html><title>Service unavailable</title><h1>Please try again</h1>"
            f"<p>{escape(unreachable.message)}</p>",
            status=503,
            content_type="text/html; charset=utf-8",
        )
        response["Retry-After"] = str(unreachable.retry_after)
        return response
    if api:
        return problem_response(
            request, 500, "server_error", "The server failed to handle the request; it was logged."
        )
    return HttpResponse(
        "<!doctype html><title>Server error</title><h1>Something went wrong</h1>"
        "<p>The error was logged. Please try again.</p>",
        status=500,
        content_type="text/html; charset=utf-8",
    )
