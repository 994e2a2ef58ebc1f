"""Shapes of the orders API: the monolith's, field for field."""

from rest_framework import serializers

from extracted.orders.orders.models import Order, OrderLine, OrderStatus
from servicekit.web.ids import id_field

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
