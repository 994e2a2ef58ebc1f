"""The storefront's orders, wherever they live; the session-to-token bridge.

While the monolith owns `order` (servicekit.migration.ownership), the storefront calls the monolith's own
order services and selectors, as it always did. Once the orders service owns it
(migrations_plan/ chapter 07), the storefront - still server-rendered on the monolith, behind
Django session login - places, lists and cancels orders through the orders service's public API
(`/api/v1/orders/`), called directly at `settings.STOREFRONT_ORDERS_URL` (`STRANGLER_ORDERS_URL`
in the fleet) rather than back through the proxy: one hop less, and the proxy's route table is
for the shop's clients, not for the monolith's own calls.

The session-to-token bridge: for each call the monolith mints a short-lived access token
(`TOKEN_TTL` seconds) for the session's user - `sub` is the user's id, which is the same id on
every service since accounts are mirrored - signed with the active key of the shared JWT key
ring (servicekit/web/jwt/conf.py, the key API tokens are issued with), and sends it as
`Authorization: Bearer`. The orders service verifies it against the published JWKS like any
client's token and sees that customer with customer rights (never staff, even for a staff
account), not a privileged caller. The token stays server-side:
it is never put in the session or a cookie, and never logged.

Both paths answer the same view model (`OrderView`, `OrderPage`), so the templates do not care
where orders come from; a refusal or failure (a 409/400 problem, a 503, a timeout, an open
breaker) becomes `OrderError`, whose message is what the buyer sees as a flash message. A 503's
`Retry-After` (a handover) is waited out once when short, else passed on: the message says when
to try again, and `OrderError.retry_after` carries it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pybreaker
import structlog
from django.conf import settings
from django.core.paginator import Paginator
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.dateparse import parse_datetime

from monolith.orders import selectors as order_selectors
from monolith.orders import services as order_services
from servicekit.migration.ownership import owns
from servicekit.web.discovery.registry import StaticRegistry
from servicekit.web.errors import ApplicationError
from servicekit.web.http_client import (
    Response,
    ServiceClient,
    UpstreamError,
    breaker_retry_after,
    make_breaker,
)
from servicekit.web.jwt.conf import signing_key, token_policy
from servicekit.web.jwt.tokens import ACCESS, token_issue

log = structlog.get_logger(__name__)

SERVICE = "orders"
ORDERS_PATH = "/api/v1/orders/"
PAGE_SIZE = 20
TOKEN_TTL = 60  # seconds: one storefront request's calls, with room for clock skew
WAIT_SECONDS = 5  # `Prefer: wait=N`: how long a buy waits for the saga's outcome
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = WAIT_SECONDS + 5.0
ATTEMPTS = 2  # reads, and buys (they carry an Idempotency-Key, so a retry is the same order)
MAX_RETRY_AFTER = 2.0  # a longer Retry-After is passed on to the buyer rather than waited out
UNAVAILABLE = "Orders are briefly unavailable; please try again in a few seconds."
CANCELLABLE = frozenset({"pending", "confirmed"})


class OrderError(Exception):
    """Refused or failed; `message` is fit for the buyer (a flash message); `retry_after`, when
    set, is the seconds after which trying again should work."""

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def _try_again_in(seconds: int) -> str:
    return f"Orders are briefly unavailable; please try again in {seconds} seconds."


class OrderNotFound(OrderError):
    """No such order for this customer (the view answers 404)."""


@dataclass(frozen=True)
class OrderLineView:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class OrderView:
    pk: int
    created_at: datetime | None
    status: str
    total: Decimal
    currency: str
    lines: tuple[OrderLineView, ...]

    @property
    def cancellable(self) -> bool:
        return self.status in CANCELLABLE


@dataclass(frozen=True)
class OrderPage:
    orders: tuple[OrderView, ...]
    number: int
    has_previous: bool
    has_next: bool


def via_service() -> bool:
    """True once another owner (or a handover) holds `order`: the API is the way in."""
    return not owns("order")


# --- the monolith's own orders ----------------------------------------------------------------


def _from_model(order) -> OrderView:
    return OrderView(
        pk=order.pk,
        created_at=order.created_at,
        status=order.status,
        total=order.total,
        currency=order.currency,
        lines=tuple(
            OrderLineView(sku=x.sku, name=x.name, quantity=x.quantity, unit_price=x.unit_price)
            for x in order.lines.all()
        ),
    )


def _local_place(*, user, sku: str, quantity: int) -> OrderView:
    try:
        order, _created = order_services.order_place(
            customer=user, lines=[order_services.OrderLineIn(sku=sku, quantity=quantity)]
        )
    except ApplicationError as exc:
        raise OrderError(exc.message) from exc
    return _from_model(order)


def _local_page(*, user, page: Any) -> OrderPage:
    orders = order_selectors.order_list(user=user).filter(customer=user)
    current = Paginator(orders, PAGE_SIZE).get_page(page)
    return OrderPage(
        orders=tuple(_from_model(o) for o in current),
        number=current.number,
        has_previous=current.has_previous(),
        has_next=current.has_next(),
    )


def _local_cancel(*, user, order_id: int) -> OrderView:
    order = order_selectors.order_get(user=user, order_id=order_id)
    if order is None or order.customer_id != user.pk:
        raise OrderNotFound("No such order.")
    try:
        return _from_model(order_services.order_cancel(order=order))
    except ApplicationError as exc:
        raise OrderError(exc.message) from exc


# --- the orders service -----------------------------------------------------------------------


@functools.cache
def client() -> ServiceClient:
    """One per process (it holds the connection pool and the breaker), built on first use."""
    return ServiceClient(
        SERVICE,
        registry=StaticRegistry({SERVICE: [settings.STOREFRONT_ORDERS_URL]}),
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        attempts=ATTEMPTS,
        max_retry_after=MAX_RETRY_AFTER,
        breaker=make_breaker(f"storefront-{SERVICE}", fail_max=5, reset_timeout=30),
    )


@receiver(setting_changed)
def _reset(*, setting: str, **_kwargs: Any) -> None:
    if setting == "STOREFRONT_ORDERS_URL":
        client.cache_clear()


def bearer_token(user) -> str:
    """The session's user as a short-lived access token (the session-to-token bridge)."""
    policy = dataclasses.replace(token_policy(), access_ttl=TOKEN_TTL)
    return token_issue(
        key=signing_key(),
        policy=policy,
        subject=str(user.pk),
        token_type=ACCESS,
        # customer rights only, even for staff: the storefront acts for a shopper
        claims={"username": user.username, "is_staff": False},
    )


def _call(method: str, path: str, *, user, request_id: str | None, **kwargs: Any) -> Response:
    headers = {"Authorization": "Bearer " + bearer_token(user), **kwargs.pop("headers", {})}
    if request_id:
        headers["X-Request-ID"] = request_id
    service = client()
    try:
        response = service.request(method, path, headers=headers, **kwargs)
    except pybreaker.CircuitBreakerError as exc:
        seconds = breaker_retry_after(service.breaker)
        raise OrderError(_try_again_in(seconds), retry_after=seconds) from exc
    except UpstreamError as exc:
        log.warning("storefront_orders_unavailable", method=method, path=path, error=str(exc))
        if exc.retry_after is not None:
            seconds = max(1, math.ceil(exc.retry_after))
            raise OrderError(_try_again_in(seconds), retry_after=seconds) from exc
        raise OrderError(UNAVAILABLE) from exc
    if response.status == 404:
        raise OrderNotFound("No such order.")
    if 400 <= response.status < 500 and response.status not in (401, 403):
        raise OrderError(_problem_detail(response))
    if not 200 <= response.status < 300:
        log.warning("storefront_orders_refused", method=method, path=path, status=response.status)
        raise OrderError(UNAVAILABLE)
    return response


def _problem_detail(response: Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return detail if isinstance(detail, str) and detail else UNAVAILABLE


def _from_api(data: dict) -> OrderView:
    return OrderView(
        pk=int(data["id"]),
        created_at=parse_datetime(data["created_at"]) if data.get("created_at") else None,
        status=data["status"],
        total=Decimal(str(data["total"])),
        currency=data["currency"],
        lines=tuple(
            OrderLineView(
                sku=x["sku"],
                name=x["name"],
                quantity=int(x["quantity"]),
                unit_price=Decimal(str(x["unit_price"])),
            )
            for x in data.get("lines", ())
        ),
    )


def _remote_place(*, user, sku: str, quantity: int, request_id: str | None) -> OrderView:
    response = _call(
        "POST",
        ORDERS_PATH,
        user=user,
        request_id=request_id,
        json={"lines": [{"sku": sku, "quantity": quantity}]},
        # the key makes the client's retry of a lost answer return the same order
        headers={"Idempotency-Key": uuid.uuid4().hex, "Prefer": f"wait={WAIT_SECONDS}"},
    )
    return _from_api(response.json())


def _page_number(page: Any) -> int:
    try:
        return max(1, int(page))
    except (TypeError, ValueError):
        return 1


def _remote_page(*, user, page: Any, request_id: str | None) -> OrderPage:
    number = _page_number(page)
    query = f"?customer={user.pk}&page={number}&page_size={PAGE_SIZE}"
    try:
        data = _call("GET", ORDERS_PATH + query, user=user, request_id=request_id).json()
    except OrderNotFound:  # a page past the end
        return OrderPage(orders=(), number=number, has_previous=number > 1, has_next=False)
    return OrderPage(
        orders=tuple(_from_api(row) for row in data.get("results", ())),
        number=number,
        has_previous=bool(data.get("previous")),
        has_next=bool(data.get("next")),
    )


def _remote_cancel(*, user, order_id: int, request_id: str | None) -> OrderView:
    path = f"{ORDERS_PATH}{int(order_id)}/cancel/"
    response = _call("POST", path, user=user, request_id=request_id, json={})
    return _from_api(response.json())


# --- what the views call ----------------------------------------------------------------------


def order_place(*, user, sku: str, quantity: int, request_id: str | None = None) -> OrderView:
    if via_service():
        return _remote_place(user=user, sku=sku, quantity=quantity, request_id=request_id)
    return _local_place(user=user, sku=sku, quantity=quantity)


def order_page(*, user, page: Any = 1, request_id: str | None = None) -> OrderPage:
    if via_service():
        return _remote_page(user=user, page=page, request_id=request_id)
    return _local_page(user=user, page=page)


def order_cancel(*, user, order_id: int, request_id: str | None = None) -> OrderView:
    if via_service():
        return _remote_cancel(user=user, order_id=order_id, request_id=request_id)
    return _local_cancel(user=user, order_id=order_id)
