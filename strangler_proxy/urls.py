"""`/_strangler/` for operators; every other path is forwarded."""

from django.urls import path, re_path

from servicekit.web.metrics import metrics
from strangler_proxy.control import page, views
from strangler_proxy.edge.django_view import proxy_view

admin_patterns = [
    path("_strangler/healthz", views.healthz),
    path("_strangler/metrics", metrics),
    path("_strangler/routes", views.routes),
    path("_strangler/routes/<str:name>", views.route_detail),
    path("_strangler/traffic", views.traffic),
    path("_strangler/breakers", views.breakers),
    path("_strangler/shadow", views.shadow),
    path("_strangler/lifecycle", views.lifecycle_view),
    path(
        "_strangler/lifecycle/<str:name>/<str:action>",
        views.lifecycle_action,
    ),
    path("_strangler/inventory", views.inventory_view),
    path("_strangler/outbox", views.outbox),
    path("_strangler/reconcile", views.reconcile),
    path("_strangler/series", views.series),
    path("_strangler/ui/", page.control_centre),
    path("_strangler/ui/control.js", page.control_centre_script),
    path("_strangler/ui/control.css", page.control_centre_style),
]

urlpatterns = [*admin_patterns, re_path(r"", proxy_view)]
