"""The service answers the monolith's paths with the monolith's shapes; a caller sees only
their own notifications; health, metrics and the schema answer."""

import pytest
from rest_framework.test import APIClient

from extracted.notifications.notifications.models import Notification
from tests.extracted.notifications.builders import CUSTOMER
from tests.extracted.notifications.shapes import DATASET, assert_same_shapes
from tests.support.shapes import assert_problem
from tests.support.tokens import client_for

pytestmark = pytest.mark.django_db


def make_dataset(user_id: int) -> list[int]:
    return [Notification.objects.create(user_id=user_id, **row).pk for row in DATASET]


def test_same_shapes_as_the_monolith_for_the_same_data(customer_client):
    ids = make_dataset(CUSTOMER)
    make_dataset(CUSTOMER + 1)  # someone else's: never listed
    assert_same_shapes(customer_client, ids)


def test_the_owner_answers_mark_read_like_the_monolith(customer_client, service_owns):
    ids = make_dataset(CUSTOMER)
    body = customer_client.post(f"/api/v1/notifications/{ids[1]}/read/").json()
    assert body["is_read"] is True and body["id"] == ids[1]
    assert customer_client.post("/api/v1/notifications/read-all/").json() == {"marked_read": 1}


def test_someone_elses_notification_is_404(customer_client, service_owns):
    theirs = make_dataset(CUSTOMER + 1)[1]
    response = customer_client.post(f"/api/v1/notifications/{theirs}/read/")
    assert response.status_code == 404
    assert Notification.objects.get(pk=theirs).read_at is None


def test_a_token_is_required_and_verified():
    anon = APIClient().get("/api/v1/notifications/")
    assert_problem(anon, 401, "not_authenticated")
    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert forged.get("/api/v1/notifications/").status_code == 401


def test_the_user_is_the_tokens_subject():
    make_dataset(7)
    assert client_for(7).get("/api/v1/notifications/").json()["count"] == 3
    assert client_for(8).get("/api/v1/notifications/").json()["count"] == 0


def test_health_metrics_and_docs_answer(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/metrics").status_code == 200
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/notifications/read-all/" in schema.content
    assert client.get("/api/docs/").status_code == 200
    unknown = client.get("/api/v1/orders/")
    assert unknown.status_code == 404 and unknown["Content-Type"].startswith(
        "application/problem+json"
    )
