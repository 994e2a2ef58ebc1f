from django.urls import path

from monolith.users import apis

urlpatterns = [path("", apis.jwks, name="jwks")]
