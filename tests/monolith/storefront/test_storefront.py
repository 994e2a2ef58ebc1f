import pytest

from monolith.catalog.models import Inventory
from monolith.notifications.models import Notification
from monolith.orders.models import Order
from tests.monolith.storefront.browser import csrf_token, login
from tests.support.events import deliver

pytestmark = pytest.mark.django_db


def test_product_list_and_search(browser, product):
    page = browser.get("/")
    assert page.status_code == 200
    assert "Blue mug" in page.content.decode()
    assert "Blue mug" not in browser.get("/", {"q": "teapot"}).content.decode()


def test_product_detail_and_404(browser, product):
    assert "5 available" in browser.get(f"/products/{product.sku}/").content.decode()
    assert browser.get("/products/NOPE/").status_code == 404


def test_buying_needs_login(browser, product):
    response = browser.get("/my/orders/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_buy_without_csrf_token_is_refused(browser, customer, product):
    login(browser, customer)
    assert browser.post(f"/products/{product.sku}/buy/", {"quantity": 1}).status_code == 403
    assert not Order.objects.exists()


def test_login_buy_and_see_order_with_its_notification(
    browser, customer, product, django_capture_on_commit_callbacks
):
    login(browser, customer)
    detail = browser.get(f"/products/{product.sku}/").content.decode()

    response = browser.post(
        f"/products/{product.sku}/buy/",
        {"quantity": 2, "csrfmiddlewaretoken": csrf_token(detail)},
    )
    with django_capture_on_commit_callbacks(execute=True):
        deliver("monolith.notifications")

    assert response.status_code == 302 and response["Location"] == "/my/orders/"
    order = Order.objects.get(customer=customer)
    assert Inventory.objects.get(product=product).on_hand == 3
    assert Notification.objects.filter(user=customer, order_id=order.pk).exists()
    page = browser.get("/my/orders/").content.decode()
    assert f"Order {order.pk} placed." in page  # the flash message
    assert "2 \N{MULTIPLICATION SIGN} Blue mug" in page
    assert f"<li>Order {order.pk} placed <strong>(new)</strong></li>" in page


def test_buying_more_than_stock_shows_the_error(browser, customer, product):
    login(browser, customer)
    token = csrf_token(browser.get(f"/products/{product.sku}/").content.decode())
    response = browser.post(
        f"/products/{product.sku}/buy/", {"quantity": 9, "csrfmiddlewaretoken": token}, follow=True
    )
    assert "Not enough stock" in response.content.decode()
    assert not Order.objects.exists()


def test_bad_quantity_is_a_400_form(browser, customer, product):
    login(browser, customer)
    token = csrf_token(browser.get(f"/products/{product.sku}/").content.decode())
    response = browser.post(
        f"/products/{product.sku}/buy/", {"quantity": 0, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 400
    assert not Order.objects.exists()


def test_cancel_from_my_orders(browser, customer, product):
    login(browser, customer)
    token = csrf_token(browser.get(f"/products/{product.sku}/").content.decode())
    browser.post(f"/products/{product.sku}/buy/", {"quantity": 1, "csrfmiddlewaretoken": token})
    order = Order.objects.get()
    page = browser.get("/my/orders/").content.decode()
    browser.post(f"/my/orders/{order.pk}/cancel/", {"csrfmiddlewaretoken": csrf_token(page)})
    order.refresh_from_db()
    assert order.status == "cancelled"
    assert Inventory.objects.get(product=product).on_hand == 5


def test_logout_is_a_post(browser, customer):
    login(browser, customer)
    page = browser.get("/").content.decode()
    assert (
        browser.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_token(page)}).status_code
        == 302
    )
    assert browser.get("/my/orders/").status_code == 302


@pytest.mark.django_db(transaction=True)  # the retry runs only where it is the whole transaction
def test_an_order_the_database_keeps_rolling_back_shows_a_message(
    browser, customer, product, monkeypatch
):
    from django.db import OperationalError

    from monolith.orders import services

    class DeadlockDetected(Exception):
        sqlstate = "40P01"

    def deadlocked(**kwargs):
        try:
            raise DeadlockDetected("deadlock detected")
        except DeadlockDetected as cause:
            raise OperationalError("deadlock detected") from cause

    monkeypatch.setattr(services, "_order_create", deadlocked)
    login(browser, customer)
    token = csrf_token(browser.get(f"/products/{product.sku}/").content.decode())
    response = browser.post(
        f"/products/{product.sku}/buy/", {"quantity": 1, "csrfmiddlewaretoken": token}, follow=True
    )
    assert response.status_code == 200
    assert "send it again" in response.content.decode()
    assert not Order.objects.exists()
