from django.urls import path

from extracted.catalog.products import apis

app_name = "products"
urlpatterns = [
    path("categories/", apis.CategoryListApi.as_view(), name="category-list"),
    path("catalog/export/", apis.CatalogExportApi.as_view(), name="export"),
    path("products/", apis.ProductListCreateApi.as_view(), name="product-list"),
    path("products/<str:sku>/", apis.ProductDetailApi.as_view(), name="product-detail"),
    path("products/<str:sku>/price/", apis.ProductPriceApi.as_view(), name="product-price"),
    path(
        "products/<str:sku>/inventory/",
        apis.ProductInventoryApi.as_view(),
        name="product-inventory",
    ),
]
