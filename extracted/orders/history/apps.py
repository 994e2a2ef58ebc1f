from django.apps import AppConfig


class HistoryConfig(AppConfig):
    name = "extracted.orders.history"
    label = "history"
