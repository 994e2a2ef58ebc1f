"""Once the orders service owns `order`, the storefront (still on the monolith, session login)
places, lists and cancels orders through its API with a short-lived token for the session's
user. A fake orders service on a free port stands in for it and records what it was sent."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from monolith.catalog.models import Inventory
from monolith.orders.models import Order
from monolith.storefront import orders_gateway
from servicekit.migration.ownership import ownership_set
from servicekit.web.jwt.conf import local_key_resolver, token_policy
from servicekit.web.jwt.tokens import ACCESS, token_decode
from tests.monolith.factories import StaffFactory, UserFactory
from tests.monolith.storefront.browser import csrf_token, login

pytestmark = pytest.mark.django_db


def api_order(order_id, *, status="confirmed", quantity=2, customer_id=1):
    return {
        "id": order_id,
        "customer_id": customer_id,
        "status": status,
        "total": f"{10 * quantity}.00",
        "currency": "EUR",
        "lines": [
            {
                "sku": "MUG-001",
                "name": "Blue mug",
                "unit_price": "10.00",
                "quantity": quantity,
                "line_total": f"{10 * quantity}.00",
            }
        ],
        "created_at": "2025-03-04T05:06:07.123456Z",
        "updated_at": "2025-03-04T05:06:08Z",
    }


def problem(status, code, detail):
    body = {"type": f"urn:problem:strangler:{code}", "title": code, "status": status}
    return status, {**body, "detail": detail, "code": code}


class FakeOrders:
    """Answers from `routes[(method, path)]` (a (status, body[, headers]) tuple, or a callable
    returning one); `block` makes every answer wait until the test ends."""

    def __init__(self):
        self.requests: list[dict] = []
        self.routes: dict[tuple[str, str], object] = {}
        self.block = threading.Event()
        self.release = threading.Event()

    def answer(self, method, path):
        route = self.routes.get((method, path), (404, {"detail": "Not found.", "code": "nf"}))
        return route() if callable(route) else route


@pytest.fixture
def fake_orders(settings, tmp_path):
    fake = FakeOrders()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            fake.requests.append(
                {
                    "method": self.command,
                    "path": url.path,
                    "query": parse_qs(url.query),
                    "headers": dict(self.headers),
                    "json": json.loads(raw) if raw else None,
                }
            )
            if fake.block.is_set():
                fake.release.wait(10)
            status, body, *extra = fake.answer(self.command, url.path)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            for name, value in (extra[0] if extra else {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.OWNERSHIP_FILE = str(tmp_path / "ownership.yaml")
    ownership_set("order", "orders")
    # a setting change rebuilds the gateway's client (and its breaker) for this test
    settings.STOREFRONT_ORDERS_URL = f"http://127.0.0.1:{server.server_port}"
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def customer(db):
    """Not the first account, so a token naming the wrong user cannot pass by chance."""
    first = UserFactory(username="first")
    return UserFactory(username=f"dora{first.pk}")


def bearer_claims(request) -> dict:
    scheme, token = request["headers"]["Authorization"].split(" ", 1)
    assert scheme == "Bearer"
    # the monolith's own key resolver (the shared key ring) verifies what it minted
    return token_decode(
        token, policy=token_policy(), key_for_kid=local_key_resolver(), expected_type=ACCESS
    )


def buy(browser, product, quantity=2):
    token = csrf_token(browser.get(f"/products/{product.sku}/").content.decode())
    return browser.post(
        f"/products/{product.sku}/buy/", {"quantity": quantity, "csrfmiddlewaretoken": token}
    )


def test_buy_goes_to_the_orders_service_as_the_session_user(
    browser, customer, product, fake_orders
):
    fake_orders.routes["POST", "/api/v1/orders/"] = (201, api_order(9001))
    login(browser, customer)

    response = buy(browser, product)

    assert response.status_code == 302 and response["Location"] == "/my/orders/"
    [sent] = fake_orders.requests
    assert sent["json"] == {"lines": [{"sku": product.sku, "quantity": 2}]}
    assert sent["headers"]["Prefer"] == f"wait={orders_gateway.WAIT_SECONDS}"
    assert sent["headers"]["Idempotency-Key"]
    claims = bearer_claims(sent)
    assert claims["sub"] == str(customer.pk)
    assert claims["username"] == customer.username and claims["is_staff"] is False
    assert claims["exp"] - claims["iat"] == orders_gateway.TOKEN_TTL  # short-lived
    # nothing placed, nothing taken in the monolith
    assert not Order.objects.exists()
    assert Inventory.objects.get(product=product).on_hand == 5
    fake_orders.routes["GET", "/api/v1/orders/"] = (
        200,
        {"count": 0, "next": None, "previous": None, "results": []},
    )
    assert "Order 9001 placed and confirmed." in browser.get("/my/orders/").content.decode()


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("cancelled", "Order 9002 could not be completed and was cancelled."),
        ("pending", "Order 9002 placed."),
    ],
)
def test_the_buyer_sees_the_sagas_outcome(browser, customer, product, fake_orders, status, message):
    fake_orders.routes["POST", "/api/v1/orders/"] = (201, api_order(9002, status=status))
    login(browser, customer)
    buy(browser, product)
    fake_orders.routes["GET", "/api/v1/orders/"] = (200, {"results": []})
    assert message in browser.get("/my/orders/").content.decode()


def test_my_orders_lists_the_services_orders(browser, customer, product, fake_orders):
    fake_orders.routes["GET", "/api/v1/orders/"] = (
        200,
        {
            "count": 2,
            "next": None,
            "previous": None,
            "results": [
                api_order(9004, status="cancelled", quantity=1),
                api_order(9003, status="confirmed", quantity=3),
            ],
        },
    )
    login(browser, customer)

    response = browser.get("/my/orders/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "<td>9003</td><td>2025-03-04 05:06</td><td>confirmed</td>" in page
    assert "3 \N{MULTIPLICATION SIGN} Blue mug" in page and "30.00 EUR" in page
    assert "<td>9004</td>" in page and "1 \N{MULTIPLICATION SIGN} Blue mug" in page
    assert 'action="/my/orders/9003/cancel/"' in page
    assert 'action="/my/orders/9004/cancel/"' not in page  # already cancelled
    [sent] = fake_orders.requests
    assert sent["query"]["customer"] == [str(customer.pk)]
    assert bearer_claims(sent)["sub"] == str(customer.pk)


def test_cancel_goes_to_the_orders_service(browser, customer, fake_orders):
    fake_orders.routes["GET", "/api/v1/orders/"] = (200, {"results": [api_order(9005)]})
    fake_orders.routes["POST", "/api/v1/orders/9005/cancel/"] = (
        200,
        api_order(9005, status="cancelled"),
    )
    login(browser, customer)
    page = browser.get("/my/orders/").content.decode()

    response = browser.post("/my/orders/9005/cancel/", {"csrfmiddlewaretoken": csrf_token(page)})

    assert response.status_code == 302 and response["Location"] == "/my/orders/"
    cancel = fake_orders.requests[-1]
    assert (cancel["method"], cancel["path"]) == ("POST", "/api/v1/orders/9005/cancel/")
    assert bearer_claims(cancel)["sub"] == str(customer.pk)
    assert "Order 9005 cancelled." in browser.get("/my/orders/").content.decode()


def test_a_staff_session_gets_customer_rights_only(browser, fake_orders):
    staff = StaffFactory(username="sally")
    fake_orders.routes["GET", "/api/v1/orders/"] = (200, {"results": []})
    login(browser, staff)
    browser.get("/my/orders/")
    claims = bearer_claims(fake_orders.requests[-1])
    assert claims["sub"] == str(staff.pk) and claims["is_staff"] is False


def test_cancelling_an_order_the_service_does_not_show_is_a_404(browser, customer, fake_orders):
    fake_orders.routes["GET", "/api/v1/orders/"] = (200, {"results": []})
    login(browser, customer)
    page = browser.get("/my/orders/").content.decode()
    response = browser.post("/my/orders/777/cancel/", {"csrfmiddlewaretoken": csrf_token(page)})
    assert response.status_code == 404
    assert fake_orders.requests[-1]["path"] == "/api/v1/orders/777/cancel/"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            problem(409, "insufficient_stock", "Not enough stock for MUG-001."),
            "Not enough stock for MUG-001.",
        ),
        (
            problem(400, "unknown_product", "Unknown or unavailable products: MUG-001."),
            "Unknown or unavailable products: MUG-001.",
        ),
        ((*problem(503, "handover_in_progress", "wait"), {"Retry-After": "2"}), "briefly"),
        ((401, {"detail": "unknown signing key"}), "briefly unavailable"),
    ],
)
def test_a_refusal_of_the_service_is_a_flash_message(
    browser, customer, product, fake_orders, answer, message
):
    fake_orders.routes["POST", "/api/v1/orders/"] = answer
    login(browser, customer)

    response = buy(browser, product, quantity=9)

    assert response.status_code == 302
    assert response["Location"] == f"/products/{product.sku}/"
    assert message in browser.get(response["Location"]).content.decode()
    assert "unknown signing key" not in browser.get("/").content.decode()


def test_a_timeout_is_a_flash_message_not_a_500(
    browser, customer, product, fake_orders, monkeypatch
):
    monkeypatch.setattr(orders_gateway, "READ_TIMEOUT", 0.2)
    orders_gateway.client.cache_clear()
    fake_orders.block.set()  # the service never answers in time
    login(browser, customer)

    response = browser.get("/my/orders/")
    assert response.status_code == 200
    assert orders_gateway.UNAVAILABLE in response.content.decode()
    assert "No orders yet." in response.content.decode()

    response = buy(browser, product)
    assert response["Location"] == f"/products/{product.sku}/"
    assert orders_gateway.UNAVAILABLE in browser.get(response["Location"]).content.decode()


def test_an_open_breaker_answers_without_calling_the_service(
    browser, customer, product, fake_orders
):
    fake_orders.routes["GET", "/api/v1/orders/"] = (503, {"detail": "down"})
    login(browser, customer)
    # each page view is two attempts (a GET may be retried); the breaker opens at 5 failures
    for _ in range(3):
        assert browser.get("/my/orders/").status_code == 200
    calls = len(fake_orders.requests)
    assert calls == 5

    response = buy(browser, product)

    assert len(fake_orders.requests) == calls  # the breaker answered
    page = browser.get(response["Location"]).content.decode()
    assert "Orders are briefly unavailable; please try again in" in page
    assert "seconds." in page


def test_a_long_retry_after_reaches_the_buyer(browser, customer, fake_orders):
    # given: the orders service is handing orders over and asks for 30 s
    fake_orders.routes["POST", "/api/v1/orders/5/cancel/"] = (
        *problem(503, "handover_in_progress", "wait"),
        {"Retry-After": "30"},
    )
    fake_orders.routes["GET", "/api/v1/orders/"] = (
        200,
        {"count": 0, "next": None, "previous": None, "results": []},
    )
    login(browser, customer)
    page = browser.get("/my/orders/").content.decode()

    # when
    response = browser.post("/my/orders/5/cancel/", {"csrfmiddlewaretoken": csrf_token(page)})

    # then: the buyer is told when, not just "briefly"
    shown = browser.get(response["Location"]).content.decode()
    assert "please try again in 30 seconds." in shown


def test_a_short_retry_after_is_waited_out_and_never_opens_the_breaker(
    browser, customer, product, fake_orders
):
    # given: every other answer is a handover's 503 with Retry-After: 1
    answers = iter(
        [(*problem(503, "owner_moving", "moving"), {"Retry-After": "1"}), (201, api_order(9))] * 4
    )
    fake_orders.routes["POST", "/api/v1/orders/"] = lambda: next(answers)
    login(browser, customer)

    # when: four buys, each refused once (more refusals than the breaker's fail_max of 5 would
    # need if they counted)
    started = time.monotonic()
    pages = [browser.get(buy(browser, product)["Location"]).content.decode() for _ in range(4)]

    # then: each buy waited the second out and went through; the same key was sent twice
    assert all("Order 9 placed and confirmed." in page for page in pages)
    assert time.monotonic() - started >= 4 * 0.9
    keys = [r["headers"]["Idempotency-Key"] for r in fake_orders.requests if r["method"] == "POST"]
    assert len(keys) == 8 and keys[0] == keys[1]
    assert orders_gateway.client().breaker.current_state == "closed"
