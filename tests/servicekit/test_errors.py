"""Service errors carry no HTTP: the problem+json handler maps their code and kind to a status."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError

from servicekit.migration.ownership import HandoverInProgress, OwnerMoving
from servicekit.web.errors import (
    ApplicationError,
    InvalidInputError,
    NotFoundError,
    UnauthorizedError,
    problem_exception_handler,
    status_for,
)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ApplicationError("no"), 409),
        (ApplicationError("no", code="illegal_transition"), 409),
        (ApplicationError("reused", code="idempotency_key_reused"), 422),
        (NotFoundError("gone", code="product_not_found"), 404),
        (UnauthorizedError("wrong", code="invalid_credentials"), 401),
        (InvalidInputError("empty", code="empty_order"), 400),
        (OwnerMoving("elsewhere"), 503),
        (HandoverInProgress("wait"), 503),
    ],
)
def test_status_for_maps_code_then_kind(error, status):
    assert not hasattr(error, "status_code")
    assert status_for(error) == status


def test_handler_answers_problem_json_with_details_and_retry_after():
    error = HandoverInProgress("being handed over", details={"entity": "product"})

    response = problem_exception_handler(error, {})

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.data["status"] == 503
    assert response.data["code"] == "handover_in_progress"
    assert response.data["detail"] == "being handed over"
    assert response.data["entity"] == "product"


class _DriverError(Exception):
    def __init__(self, sqlstate: str | None):
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


def _database_error(kind, sqlstate: str | None) -> Exception:
    """Django's error class raised from a driver error carrying `sqlstate`, as Django wraps it."""
    try:
        try:
            raise _DriverError(sqlstate)
        except _DriverError as cause:
            raise kind("deadlock detected\nDETAIL: Process 1 waits for ShareLock") from cause
    except kind as exc:
        return exc


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_rolled_back_transaction_is_a_503_to_send_again(sqlstate):
    response = problem_exception_handler(_database_error(OperationalError, sqlstate), {})

    assert response.status_code == 503
    assert response["Retry-After"] == "1"
    assert response.content_type == "application/problem+json"
    assert response.data["code"] == "transaction_conflict"
    assert response.data["sqlstate"] == sqlstate
    assert "send it again" in response.data["detail"]
    assert "Process 1" not in response.data["detail"]  # the database's text stays in the log


@pytest.mark.parametrize(
    ("kind", "sqlstate"),
    [
        (OperationalError, "40003"),  # statement completion unknown: it may have been applied
        (OperationalError, "57P01"),  # admin shutdown
        (OperationalError, None),
        (IntegrityError, "40P01"),
    ],
)
def test_other_database_errors_stay_unexpected(kind, sqlstate):
    # None: DRF's caller re-raises, and Django's handler500 answers 500 (problem+json on APIs)
    assert problem_exception_handler(_database_error(kind, sqlstate), {}) is None


def _wrapped(cause: Exception) -> OperationalError:
    """Django's OperationalError raised from `cause`, as `wrap_database_errors` raises it."""
    try:
        try:
            raise cause
        except Exception as driver:
            raise OperationalError(str(driver)) from driver
    except OperationalError as exc:
        return exc


def _unreachable_errors() -> list[Exception]:
    import psycopg
    from psycopg_pool import PoolTimeout

    return [
        _wrapped(PoolTimeout("couldn't get a connection after 5.00 sec")),
        _wrapped(
            psycopg.OperationalError(
                'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
                "FATAL:  sorry, too many clients already"
            )
        ),
    ]


@pytest.mark.parametrize("index", [0, 1], ids=["pool busy", "server refused"])
def test_a_database_out_of_reach_is_a_503_to_send_again(index):
    response = problem_exception_handler(_unreachable_errors()[index], {})

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.content_type == "application/problem+json"
    assert response.data["code"] == "database_unavailable"
    assert "nothing was changed" in response.data["detail"]
    assert "127.0.0.1" not in response.data["detail"]  # the server's address stays in the log


@pytest.mark.parametrize("path", ["/api/v1/orders/", "/products/X/"])
def test_handler500_answers_a_database_out_of_reach_with_503(path):
    from django.test import RequestFactory

    from servicekit.web.errors import server_error

    try:
        raise _unreachable_errors()[0]
    except OperationalError:
        response = server_error(RequestFactory().get(path))

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    if path.startswith("/api/"):
        assert response["Content-Type"] == "application/problem+json"
    else:
        assert b"try again" in response.content.lower()
