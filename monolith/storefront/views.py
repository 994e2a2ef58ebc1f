"""The server-rendered storefront: it calls the same services and selectors as the API.

Orders go through `orders_gateway`: the monolith's own order code while it owns `order`, the
orders service's API (with a short-lived token for the session's user) once that service does.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from monolith.catalog import selectors as catalog_selectors
from monolith.notifications import selectors as notification_selectors
from monolith.storefront import orders_gateway
from monolith.storefront.forms import BuyForm, SearchForm

PAGE_SIZE = 24


@require_http_methods(["GET", "HEAD"])
def product_list(request):
    form = SearchForm(request.GET)
    data = form.cleaned_data if form.is_valid() else {}
    filters = catalog_selectors.ProductFilters(
        q=data.get("q", ""), category=data.get("category", "")
    )
    paginator = Paginator(catalog_selectors.product_list(filters=filters), PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "storefront/product_list.html",
        {"page": page, "form": form, "categories": catalog_selectors.category_list()},
    )


@require_http_methods(["GET", "HEAD"])
def product_detail(request, sku: str):
    product = catalog_selectors.product_get(sku=sku)
    if product is None:
        raise Http404("No such product")
    return render(
        request, "storefront/product_detail.html", {"product": product, "form": BuyForm()}
    )


@login_required
@require_POST
def buy(request, sku: str):
    product = catalog_selectors.product_get(sku=sku)
    if product is None:
        raise Http404("No such product")
    form = BuyForm(request.POST)
    if not form.is_valid():
        return render(
            request,
            "storefront/product_detail.html",
            {"product": product, "form": form},
            status=400,
        )
    try:
        order = orders_gateway.order_place(
            user=request.user,
            sku=sku,
            quantity=form.cleaned_data["quantity"],
            request_id=getattr(request, "request_id", None),
        )
    except orders_gateway.OrderError as exc:
        messages.error(request, exc.message)
        return redirect("storefront:product-detail", sku=sku)
    if order.status == "cancelled":
        messages.error(request, f"Order {order.pk} could not be completed and was cancelled.")
    elif order.status == "confirmed":
        messages.success(request, f"Order {order.pk} placed and confirmed.")
    else:
        messages.success(request, f"Order {order.pk} placed.")
    return redirect("storefront:my-orders")


@login_required
@require_http_methods(["GET", "HEAD"])
def my_orders(request):
    try:
        page = orders_gateway.order_page(
            user=request.user,
            page=request.GET.get("page"),
            request_id=getattr(request, "request_id", None),
        )
    except orders_gateway.OrderError as exc:
        messages.error(request, exc.message)
        page = orders_gateway.OrderPage(orders=(), number=1, has_previous=False, has_next=False)
    return render(
        request,
        "storefront/my_orders.html",
        {
            "page": page,
            "notifications": notification_selectors.notification_list(user=request.user)[:10],
        },
    )


@login_required
@require_POST
def cancel_order(request, order_id: int):
    try:
        order = orders_gateway.order_cancel(
            user=request.user, order_id=order_id, request_id=getattr(request, "request_id", None)
        )
    except orders_gateway.OrderNotFound as exc:
        raise Http404("No such order") from exc
    except orders_gateway.OrderError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Order {order.pk} cancelled.")
    return redirect("storefront:my-orders")
