from django.urls import path

from extracted.users.accounts import apis

app_name = "users"
urlpatterns = [
    path("", apis.UserListRegisterApi.as_view(), name="list"),
    path("me", apis.MeApi.as_view(), name="me"),
    path("export/", apis.UsersExportApi.as_view(), name="export"),
    path("<int:pk>", apis.UserDetailApi.as_view(), name="detail"),
]
