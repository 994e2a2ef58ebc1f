"""The control centre page: it holds no data; its script calls the admin API with a staff token."""

from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

_STATIC = Path(__file__).resolve().parents[1] / "static" / "strangler"


def control_centre(request: HttpRequest) -> HttpResponse:
    """The page itself holds no data: its script calls the admin API with a staff token."""
    return render(request, "strangler/control.html", {"poll_ms": 2000})


def control_centre_script(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_STATIC.joinpath("control.js").read_bytes(), content_type="text/javascript")


def control_centre_style(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_STATIC.joinpath("control.css").read_bytes(), content_type="text/css")
