from django.urls import path, re_path

from extracted.catalog.products import apis
from extracted.catalog.products.serializers import SKU_PATTERN

# A path names a product only by a well-formed SKU (the one rule every SKU was created under), so
# the schema states the pattern and anything else is a problem+json 404.
SKU = SKU_PATTERN.removeprefix("^").removesuffix("$")

app_name = "products"
urlpatterns = [
    path("categories/", apis.CategoryListApi.as_view(), name="category-list"),
    path("catalog/export/", apis.CatalogExportApi.as_view(), name="export"),
    path("catalog/quote/", apis.CatalogQuoteApi.as_view(), name="quote"),
    path("products/", apis.ProductListCreateApi.as_view(), name="product-list"),
    re_path(rf"^products/(?P<sku>{SKU})/$", apis.ProductDetailApi.as_view(), name="product-detail"),
    re_path(
        rf"^products/(?P<sku>{SKU})/price/$", apis.ProductPriceApi.as_view(), name="product-price"
    ),
    re_path(
        rf"^products/(?P<sku>{SKU})/inventory/$",
        apis.ProductInventoryApi.as_view(),
        name="product-inventory",
    ),
]
