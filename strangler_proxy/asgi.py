"""ASGI entry point for granian: `strangler_proxy.wsgi:application` run in a thread pool.

`python -m strangler_proxy.serve` serves this; the environ it builds carries the raw target
(`RAW_URI`) and drops header names with an underscore, as under gunicorn
(strangler_proxy/edge/asgi.py says why granian's own WSGI interface is not used).
"""

import os

from strangler_proxy.edge.asgi import WsgiOverAsgi
from strangler_proxy.wsgi import application as wsgi_application

application = WsgiOverAsgi(
    wsgi_application,
    threads=int(os.environ.get("STRANGLER_PROXY_THREADS", "8")),
    body_timeout=float(os.environ.get("STRANGLER_PROXY_BODY_TIMEOUT", "30")),
)
