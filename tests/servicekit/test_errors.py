"""Service errors carry no HTTP: the problem+json handler maps their code and kind to a status."""

from __future__ import annotations

import pytest

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
