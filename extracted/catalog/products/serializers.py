"""Shapes of the catalog API."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from extracted.catalog.products.models import Category, PriceChange, Product
from extracted.catalog.products.selectors import (
    ORDERINGS,
    QUOTE_MAX_SKUS,
    SKU_MAX_LENGTH,
    SKU_TOO_LONG,
    TOO_MANY_SKUS,
)

SKU_PATTERN = r"^[A-Z0-9][A-Z0-9-]{2,31}$"


class CategorySerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["slug", "name"]


class StockOutputSerializer(serializers.Serializer):
    available = serializers.IntegerField()
    in_stock = serializers.SerializerMethodField()

    def get_in_stock(self, inventory) -> bool:
        return inventory.available > 0


class ProductOutputSerializer(serializers.ModelSerializer):
    category = CategorySerializer()
    stock = StockOutputSerializer(source="inventory")

    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "description",
            "category",
            "price",
            "currency",
            "is_active",
            "stock",
            "created_at",
            "updated_at",
        ]


class ProductFilterSerializer(serializers.Serializer):
    """Query parameters of the product list; a bad one is a 400 naming it."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=100)
    category = serializers.SlugField(required=False, max_length=64)
    min_price = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=Decimal(0)
    )
    max_price = serializers.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=Decimal(0)
    )
    in_stock = serializers.BooleanField(required=False, allow_null=True, default=None)
    ordering = serializers.ChoiceField(choices=ORDERINGS, required=False, default="sku")
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)

    def validate(self, attrs):
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"min_price": "must not exceed max_price"})
        return attrs


class ProductCreateInputSerializer(serializers.Serializer):
    sku = serializers.RegexField(SKU_PATTERN, help_text="Upper-case letters, digits and dashes.")
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    category = serializers.SlugField(max_length=64)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0))
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False, default="EUR")
    is_active = serializers.BooleanField(required=False, default=True)
    on_hand = serializers.IntegerField(required=False, default=0, min_value=0, max_value=10_000_000)

    def validate_sku(self, value: str) -> str:
        if Product.objects.filter(sku=value).exists():
            raise serializers.ValidationError("A product with this sku exists.", code="unique")
        return value


class ProductUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    category = serializers.SlugField(max_length=64, required=False)
    is_active = serializers.BooleanField(required=False)


class PriceInputSerializer(serializers.Serializer):
    price = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal(0))


class PriceChangeOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = PriceChange
        fields = ["old_price", "new_price", "changed_at"]


class InventoryOutputSerializer(serializers.Serializer):
    sku = serializers.CharField(source="product.sku")
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()


class InventoryInputSerializer(serializers.Serializer):
    on_hand = serializers.IntegerField(min_value=0, max_value=10_000_000)
    reserved = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False)


class ExportCategorySerializer(serializers.ModelSerializer):
    sequence = serializers.IntegerField()

    class Meta:
        model = Category
        fields = ["slug", "name", "sequence"]


class ExportProductSerializer(serializers.ModelSerializer):
    category = serializers.CharField(source="category.slug")
    on_hand = serializers.IntegerField(source="inventory.on_hand")
    reserved = serializers.IntegerField(source="inventory.reserved")
    sequence = serializers.IntegerField()

    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "description",
            "category",
            "price",
            "currency",
            "is_active",
            "on_hand",
            "reserved",
            "sequence",
        ]


# One component name per export: the monolith serves several, and same-named components
# would collapse into one schema.
@extend_schema_serializer(component_name="CatalogExportPage")
class ExportPageSerializer(serializers.Serializer):
    categories = ExportCategorySerializer(many=True)
    products = ExportProductSerializer(many=True)
    next_after = serializers.CharField(allow_null=True)


class ExportQuerySerializer(serializers.Serializer):
    after = serializers.CharField(required=False, allow_blank=True, default="", max_length=32)
    limit = serializers.IntegerField(required=False, default=200, min_value=1, max_value=1000)


class QuoteQuerySerializer(serializers.Serializer):
    sku = serializers.ListField(
        child=serializers.CharField(
            max_length=SKU_MAX_LENGTH, error_messages={"max_length": SKU_TOO_LONG}
        ),
        allow_empty=False,
        max_length=QUOTE_MAX_SKUS,
        error_messages={"max_length": TOO_MANY_SKUS},
        help_text=f"A SKU to price (at most {QUOTE_MAX_SKUS}); in a query, repeat the parameter "
        "for more. A request line has at most 4094 bytes: long lists are sent by POST.",
    )


class SkuQuoteSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    available = serializers.IntegerField()


class QuoteOutputSerializer(serializers.Serializer):
    quotes = SkuQuoteSerializer(many=True)
    unknown_skus = serializers.ListField(child=serializers.CharField())
