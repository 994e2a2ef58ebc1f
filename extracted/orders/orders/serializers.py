"""Shapes of the orders API: the monolith's, field for field."""

from rest_framework import serializers

from extracted.orders.orders.models import Order, OrderLine, OrderStatus
from servicekit.web.ids import MAX_ID, id_field

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"


class OrderLineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=32)
    quantity = serializers.IntegerField(min_value=1, max_value=1000)


class OrderPlaceInputSerializer(serializers.Serializer):
    lines = OrderLineInputSerializer(many=True, allow_empty=False, max_length=50)


class OrderLineOutputSerializer(serializers.ModelSerializer):
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        model = OrderLine
        fields = ["sku", "name", "unit_price", "quantity", "line_total"]


class OrderOutputSerializer(serializers.ModelSerializer):
    customer_id = serializers.IntegerField()
    lines = OrderLineOutputSerializer(many=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "customer_id",
            "status",
            "total",
            "currency",
            "lines",
            "created_at",
            "updated_at",
        ]


class HistoryOutputSerializer(serializers.Serializer):
    """The same shape, from the history read model (money already as strings)."""

    id = serializers.IntegerField()
    customer_id = serializers.IntegerField()
    status = serializers.CharField()
    total = serializers.CharField()
    currency = serializers.CharField()
    lines = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrderCancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="cancelled by customer")


class OrderStatusInputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    reason = serializers.CharField(max_length=200, required=False, default="")


class OrderFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False)
    customer = id_field(required=False)
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)


class OrderExportSerializer(serializers.ModelSerializer):
    """The monolith's export row, plus `checkout`: the step of a checkout still running (a
    reservation or a payment the monolith knows nothing of), null once it settled."""

    customer_id = serializers.IntegerField()
    lines = OrderLineOutputSerializer(many=True)
    sequence = serializers.IntegerField()
    checkout = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = [
            "id",
            "customer_id",
            "status",
            "total",
            "currency",
            "lines",
            "idempotency_key",
            "request_fingerprint",
            "created_at",
            "updated_at",
            "sequence",
            "checkout",
        ]

    def get_checkout(self, order) -> str | None:
        return order.checkout_in_flight


class OrderExportPageSerializer(serializers.Serializer):
    orders = OrderExportSerializer(many=True)
    next_after = serializers.CharField(allow_null=True)


class OrderExportQuerySerializer(serializers.Serializer):
    after = serializers.CharField(required=False, allow_blank=True, default="", max_length=20)
    limit = serializers.IntegerField(required=False, default=200, min_value=1, max_value=1000)

    def validate_after(self, value: str) -> int:
        # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
        if value and not (value.isascii() and value.isdigit() and int(value) <= MAX_ID):
            raise serializers.ValidationError("An order id.")
        return int(value or 0)


class QuoteLineOutputSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    available = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class QuoteOutputSerializer(serializers.Serializer):
    lines = QuoteLineOutputSerializer(many=True)
    unknown_skus = serializers.ListField(child=serializers.CharField())
    total = serializers.DecimalField(max_digits=14, decimal_places=2)
    ready = serializers.BooleanField(help_text="Every SKU known and in stock: go on to POST.")
