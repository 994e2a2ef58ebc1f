"""`/_strangler/` for operators; every other path is forwarded."""

from django.urls import path, re_path

from servicekit.metrics import metrics
from strangler_proxy import views

admin_patterns = [
    path("_strangler/healthz", views.healthz),
    path("_strangler/metrics", metrics),
    path("_strangler/routes", views.routes),
    path("_strangler/routes/<str:name>", views.route_detail),
    path("_strangler/traffic", views.traffic),
    path("_strangler/breakers", views.breakers),
    path("_strangler/shadow", views.shadow),
]

urlpatterns = [*admin_patterns, re_path(r"", views.proxy_view)]
