from django.contrib import admin

from monolith.orders.models import Order, OrderLine


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    readonly_fields = ("sku", "name", "unit_price", "quantity", "product")


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Read-only: status moves go through services (stock and outbox stay consistent)."""

    list_display = ("id", "customer", "status", "total", "currency", "created_at")
    list_filter = ("status",)
    inlines = [OrderLineInline]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
