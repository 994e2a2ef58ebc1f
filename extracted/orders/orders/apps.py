from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "extracted.orders.orders"
    label = "orders"
