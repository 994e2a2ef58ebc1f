from django.urls import path

from extracted.users.accounts import apis

app_name = "auth"
urlpatterns = [
    path("token", apis.TokenObtainApi.as_view(), name="token"),
    path("token/refresh", apis.TokenRefreshApi.as_view(), name="token-refresh"),
]
