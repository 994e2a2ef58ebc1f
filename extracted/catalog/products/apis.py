"""Thin HTTP layer of the catalog service: the monolith's paths and shapes, public reads, staff writes."""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

from extracted.catalog.products import selectors, services
from extracted.catalog.products.serializers import (
    CategorySerializer,
    ExportPageSerializer,
    ExportQuerySerializer,
    InventoryInputSerializer,
    InventoryOutputSerializer,
    PriceChangeOutputSerializer,
    PriceInputSerializer,
    ProductCreateInputSerializer,
    ProductFilterSerializer,
    ProductOutputSerializer,
    ProductUpdateInputSerializer,
    QuoteOutputSerializer,
    QuoteQuerySerializer,
)


class StaffWritesMixin:
    def get_permissions(self):
        if self.request.method in permissions.SAFE_METHODS:
            return [permissions.AllowAny()]
        return [permissions.IsAdminUser()]


def _is_staff(request) -> bool:
    return bool(request.user and request.user.is_staff)


def _product_or_404(request, sku: str):
    product = selectors.product_get(sku=sku, include_inactive=_is_staff(request))
    if product is None:
        raise Http404
    return product


class CategoryListApi(StaffWritesMixin, generics.ListAPIView):
    serializer_class = CategorySerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.category_list()

    @extend_schema(request=CategorySerializer, responses={201: CategorySerializer})
    def post(self, request):
        serializer = CategorySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = services.category_create(**serializer.validated_data)
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)


class ProductListCreateApi(StaffWritesMixin, generics.GenericAPIView):
    serializer_class = ProductOutputSerializer
    filter_serializer_class = ProductFilterSerializer

    @extend_schema(
        parameters=[ProductFilterSerializer], responses=ProductOutputSerializer(many=True)
    )
    def get(self, request):
        params = ProductFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = {k: v for k, v in params.validated_data.items() if k not in ("page", "page_size")}
        filters = selectors.ProductFilters(**data, include_inactive=_is_staff(request))
        page = self.paginate_queryset(selectors.product_list(filters=filters))
        return self.get_paginated_response(ProductOutputSerializer(page, many=True).data)

    @extend_schema(request=ProductCreateInputSerializer, responses={201: ProductOutputSerializer})
    def post(self, request):
        serializer = ProductCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        product = services.product_create(**serializer.validated_data)
        product = selectors.product_get(sku=product.sku, include_inactive=True)
        return Response(ProductOutputSerializer(product).data, status=status.HTTP_201_CREATED)


class ProductDetailApi(StaffWritesMixin, APIView):
    @extend_schema(responses=ProductOutputSerializer)
    def get(self, request, sku: str):
        return Response(ProductOutputSerializer(_product_or_404(request, sku)).data)

    @extend_schema(request=ProductUpdateInputSerializer, responses=ProductOutputSerializer)
    def patch(self, request, sku: str):
        product = _product_or_404(request, sku)
        serializer = ProductUpdateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.product_update(product=product, **serializer.validated_data)
        return Response(ProductOutputSerializer(_product_or_404(request, sku)).data)


class ProductPriceApi(APIView):
    """GET: price history. POST: change the price (recorded, and published as an event)."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(responses=PriceChangeOutputSerializer(many=True))
    def get(self, request, sku: str):
        history = selectors.price_history(product=_product_or_404(request, sku))
        return Response(PriceChangeOutputSerializer(history, many=True).data)

    @extend_schema(request=PriceInputSerializer, responses=ProductOutputSerializer)
    def post(self, request, sku: str):
        product = _product_or_404(request, sku)
        serializer = PriceInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.product_update_price(
            product=product,
            new_price=serializer.validated_data["price"],
            changed_by_id=request.user.id,
        )
        return Response(ProductOutputSerializer(_product_or_404(request, sku)).data)


class ProductInventoryApi(APIView):
    """Staff view and count of a product's stock."""

    permission_classes = [permissions.IsAdminUser]

    @extend_schema(responses=InventoryOutputSerializer)
    def get(self, request, sku: str):
        return Response(InventoryOutputSerializer(_product_or_404(request, sku).inventory).data)

    @extend_schema(
        request=InventoryInputSerializer,
        responses=InventoryOutputSerializer,
        parameters=[OpenApiParameter("sku", str, OpenApiParameter.PATH)],
    )
    def put(self, request, sku: str):
        product = _product_or_404(request, sku)
        serializer = InventoryInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        inventory = services.stock_set(product=product, **serializer.validated_data)
        return Response(InventoryOutputSerializer(inventory).data)


class CatalogExportApi(APIView):
    """Staff: the catalog as snapshots with event sequences, for backfilling a new service."""

    permission_classes = [permissions.IsAdminUser]
    filter_serializer_class = ExportQuerySerializer

    @extend_schema(parameters=[ExportQuerySerializer], responses=ExportPageSerializer)
    def get(self, request):
        params = ExportQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        limit = params.validated_data["limit"]
        products = list(
            selectors.catalog_export_products(after=params.validated_data["after"], limit=limit)
        )
        page = {
            # Categories are few: every page carries them all.
            "categories": selectors.catalog_export_categories(),
            "products": products,
            "next_after": products[-1].sku if len(products) == limit else None,
        }
        return Response(ExportPageSerializer(page).data)


class CatalogQuoteApi(APIView):
    """Current prices and availability of SKUs, for a checkout starting in the orders service
    (the same call is served over gRPC: extracted/catalog/products/grpc_api.py)."""

    permission_classes = [permissions.AllowAny]
    filter_serializer_class = QuoteQuerySerializer

    @extend_schema(parameters=[QuoteQuerySerializer], responses=QuoteOutputSerializer)
    def get(self, request):
        return self._quote({"sku": request.query_params.getlist("sku")})

    @extend_schema(
        request=QuoteQuerySerializer,
        responses=QuoteOutputSerializer,
        description='The same quote with the SKUs in a JSON body (`{"sku": [...]}`): a list '
        "of any SKUs fits, where a query's request line may not. Reads nothing but prices.",
    )
    def post(self, request):
        return self._quote(request.data)

    def _quote(self, data):
        params = QuoteQuerySerializer(data=data)
        params.is_valid(raise_exception=True)
        quotes, unknown = selectors.products_quote(skus=params.validated_data["sku"])
        return Response(QuoteOutputSerializer({"quotes": quotes, "unknown_skus": unknown}).data)
