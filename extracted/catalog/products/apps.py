from django.apps import AppConfig


class ProductsConfig(AppConfig):
    name = "extracted.catalog.products"
    label = "products"
