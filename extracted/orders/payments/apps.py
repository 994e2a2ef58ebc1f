from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "extracted.orders.payments"
    label = "payments"
