from django.contrib.auth import views as auth_views
from django.urls import path

from monolith.storefront import views

app_name = "storefront"
urlpatterns = [
    path("", views.product_list, name="product-list"),
    path("products/<str:sku>/", views.product_detail, name="product-detail"),
    path("products/<str:sku>/buy/", views.buy, name="buy"),
    path("my/orders/", views.my_orders, name="my-orders"),
    path("my/orders/<int:order_id>/cancel/", views.cancel_order, name="cancel-order"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
