"""The server-rendered storefront: it calls the same services and selectors as the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from monolith.catalog import selectors as catalog_selectors
from monolith.notifications import selectors as notification_selectors
from monolith.orders import selectors as order_selectors
from monolith.orders import services as order_services
from monolith.storefront.forms import BuyForm, SearchForm
from servicekit.errors import ApplicationError

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
        order, _created = order_services.order_place(
            customer=request.user,
            lines=[order_services.OrderLineIn(sku=sku, quantity=form.cleaned_data["quantity"])],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("storefront:product-detail", sku=sku)
    messages.success(request, f"Order {order.pk} placed.")
    return redirect("storefront:my-orders")


@login_required
@require_http_methods(["GET", "HEAD"])
def my_orders(request):
    paginator = Paginator(
        order_selectors.order_list(user=request.user).filter(customer=request.user), 20
    )
    return render(
        request,
        "storefront/my_orders.html",
        {
            "page": paginator.get_page(request.GET.get("page")),
            "notifications": notification_selectors.notification_list(user=request.user)[:10],
        },
    )


@login_required
@require_POST
def cancel_order(request, order_id: int):
    order = order_selectors.order_get(user=request.user, order_id=order_id)
    if order is None or order.customer_id != request.user.pk:
        raise Http404("No such order")
    try:
        order_services.order_cancel(order=order)
        messages.success(request, f"Order {order.pk} cancelled.")
    except ApplicationError as exc:
        messages.error(request, exc.message)
    return redirect("storefront:my-orders")
