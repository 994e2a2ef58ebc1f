import pytest
from django.core.management import call_command

from monolith.catalog.models import Product
from monolith.orders.models import Order
from monolith.storefront.demo import DEMO_USERS
from monolith.users.models import User

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        list(User.objects.order_by("username").values_list("username", "is_staff")),
        list(
            Product.objects.order_by("sku").values_list(
                "sku", "name", "price", "inventory__on_hand"
            )
        ),
        list(Order.objects.order_by("id").values_list("customer__username", "total")),
    )


def test_seed_is_deterministic_and_idempotent(capsys):
    call_command("seed_demo", products=40)
    first = snapshot()
    call_command("seed_demo", products=40)

    assert snapshot() == first
    users, products, orders = first
    assert len(products) == 40 and len(orders) == 3
    assert ("staff", True) in users
    for demo in DEMO_USERS:
        assert User.objects.get(username=demo.username).check_password(demo.password)
    assert "alice / alice-demo-pass" in capsys.readouterr().out
