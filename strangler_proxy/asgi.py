"""ASGI entry point for granian and uvicorn: `strangler_proxy.wsgi:application` run on the event
loop's thread (STRANGLER_PROXY_REQUESTS=cooperative, the default) or in a thread pool (`threads`).

`python -m strangler_proxy.serve` serves this (under uvicorn with cooperative requests, the
WSGI application behind it is served directly: strangler_proxy/edge/wsgi_cycle.py); the
environ it builds carries the raw target
(`RAW_URI`) and drops header names with an underscore, as under gunicorn
(strangler_proxy/edge/asgi.py says why granian's own WSGI interface is not used).
"""

import os

from strangler_proxy.edge.asgi import WsgiOverAsgi, request_mode
from strangler_proxy.wsgi import application as wsgi_application

application = WsgiOverAsgi(
    wsgi_application,
    threads=int(os.environ.get("STRANGLER_PROXY_THREADS", "8")),
    body_timeout=float(os.environ.get("STRANGLER_PROXY_BODY_TIMEOUT", "30")),
    requests=request_mode(),
)
