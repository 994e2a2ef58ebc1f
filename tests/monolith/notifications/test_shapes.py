"""The monolith's notification bodies for a fixed data set: the notifications service is held
to the same (tests/extracted/notifications/shapes.py), so a change on either side shows here."""

import pytest

from monolith.notifications.models import Notification
from tests.extracted.notifications.shapes import DATASET, assert_same_shapes
from tests.monolith.factories import UserFactory

pytestmark = pytest.mark.django_db


def make_dataset(user) -> list[int]:
    ids = []
    for row in DATASET:
        notification = Notification.objects.create(user=user, **row)
        # created_at is auto_now_add: set the data set's time after the insert
        Notification.objects.filter(pk=notification.pk).update(created_at=row["created_at"])
        ids.append(notification.pk)
    return ids


def test_the_monolith_answers_the_recorded_shapes(customer, customer_client):
    ids = make_dataset(customer)
    make_dataset(UserFactory())
    assert_same_shapes(customer_client, ids)
