"""The benchmark's fixed upstream: one DRF endpoint, no database (`make bench-proxy`)."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = __name__
DATABASES: dict = {}
USE_TZ = True
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}

PRODUCT = {
    "id": 1,
    "sku": "SKU-0001",
    "name": "Widget",
    "price": "9.99",
    "currency": "EUR",
    "stock": 42,
    "tags": ["blue", "small", "sale"],
}


class ProductApi(APIView):
    permission_classes = [AllowAny]

    def get(self, request, pk: int):
        return Response({**PRODUCT, "id": pk})


urlpatterns = [path("api/v1/products/<int:pk>/", ProductApi.as_view())]
