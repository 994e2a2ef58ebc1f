"""django-revproxy in front of the benchmark upstream (the peer a Django team would pick)."""

import os

from django.urls import re_path
from revproxy.views import ProxyView

SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "revproxy"]
MIDDLEWARE: list[str] = []
ROOT_URLCONF = __name__
DATABASES: dict = {}
USE_TZ = True
LOGGING = {"version": 1, "disable_existing_loggers": True}

urlpatterns = [
    re_path(r"^(?P<path>.*)$", ProxyView.as_view(upstream=os.environ["BENCH_UPSTREAM"] + "/")),
]
