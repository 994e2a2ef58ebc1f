from django.apps import AppConfig


class StockConfig(AppConfig):
    name = "extracted.catalog.stock"
    label = "stock"
