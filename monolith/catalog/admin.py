from django.contrib import admin

from monolith.catalog.models import Category, Inventory, PriceChange, Product


class ReadOnlyAdmin(admin.ModelAdmin):
    """Catalog writes go through services (they write the outbox); the admin only looks."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ("sku", "name", "category", "price", "currency", "is_active")
    list_filter = ("category", "is_active")
    search_fields = ("sku", "name")


admin.site.register(Category)
admin.site.register(Inventory, ReadOnlyAdmin)
admin.site.register(PriceChange, ReadOnlyAdmin)
