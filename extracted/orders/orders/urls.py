from django.urls import path

from extracted.orders.orders import apis

app_name = "orders"
urlpatterns = [
    path("", apis.OrderListPlaceApi.as_view(), name="list"),
    path("export/", apis.OrderExportApi.as_view(), name="export"),
    path("quote/", apis.OrderQuoteApi.as_view(), name="quote"),
    path("<int:order_id>/", apis.OrderDetailApi.as_view(), name="detail"),
    path("<int:order_id>/cancel/", apis.OrderCancelApi.as_view(), name="cancel"),
    path("<int:order_id>/status/", apis.OrderStatusApi.as_view(), name="status"),
]
