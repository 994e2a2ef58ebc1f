from django.urls import path

from extracted.notifications.notifications import apis

app_name = "notifications"
urlpatterns = [
    path("", apis.NotificationListApi.as_view(), name="list"),
    path("export/", apis.NotificationExportApi.as_view(), name="export"),
    path("read-all/", apis.NotificationReadAllApi.as_view(), name="read-all"),
    path("<int:notification_id>/read/", apis.NotificationReadApi.as_view(), name="read"),
]
