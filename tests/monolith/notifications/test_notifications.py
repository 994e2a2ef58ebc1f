import pytest

from monolith.notifications.models import Notification
from tests.monolith.clients import bearer_client
from tests.monolith.factories import UserFactory
from tests.monolith.notifications.support import notify_order_event
from tests.support.shapes import assert_problem

pytestmark = pytest.mark.django_db


def test_task_is_idempotent_one_notification_one_email(customer, mailoutbox):
    for _ in range(2):
        notify_order_event(
            user_id=customer.pk, kind="order_placed", order_id=7, total="3.00", currency="EUR"
        )

    notification = Notification.objects.get(user=customer)
    assert notification.title == "Order 7 placed"
    assert "3.00 EUR" in notification.body
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == "Order 7 placed"


def test_task_for_a_deleted_user_does_nothing(mailoutbox):
    assert notify_order_event(user_id=999, kind="order_placed", order_id=1) is None
    assert not Notification.objects.exists() and not mailoutbox


def _notify(user, order_id, kind="order_placed"):
    return notify_order_event(user_id=user.pk, kind=kind, order_id=order_id)


def test_list_mark_read_and_read_all(customer_client, customer):
    first, second = _notify(customer, 1), _notify(customer, 2, "order_cancelled")
    _notify(UserFactory(), 3)

    listed = customer_client.get("/api/v1/notifications/").json()
    assert [n["id"] for n in listed["results"]] == [second, first]
    assert customer_client.post(f"/api/v1/notifications/{first}/read/").json()["is_read"] is True
    assert [
        n["id"]
        for n in customer_client.get("/api/v1/notifications/", {"unread": "true"}).json()["results"]
    ] == [second]
    assert customer_client.post("/api/v1/notifications/read-all/").json() == {"marked_read": 1}
    assert customer_client.get("/api/v1/notifications/", {"unread": "true"}).json()["count"] == 0


def test_someone_elses_notification_is_404(customer_client):
    theirs = _notify(UserFactory(), 3)
    assert_problem(customer_client.post(f"/api/v1/notifications/{theirs}/read/"), 404, "not_found")


def test_notifications_need_authentication(anon_client):
    assert_problem(anon_client.get("/api/v1/notifications/"), 401, "not_authenticated")


def test_notification_of_another_user_is_not_listed(customer):
    _notify(customer, 1)
    other = bearer_client(UserFactory())
    assert other.get("/api/v1/notifications/").json()["count"] == 0
