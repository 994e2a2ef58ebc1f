"""The strangler proxy: one entry point that moves routes from the monolith to extracted services.

Distributed as `strangler-proxy` (packages/strangler-proxy). The public API is the modules in
`PUBLIC_MODULES` and, in each, the names its `__all__` lists (else every name without a leading
underscore); anything else is internal and may change in any release.
"""

__version__ = "0.1.0"

PUBLIC_MODULES: tuple[str, ...] = (
    "strangler_proxy.cli",  # `strangler-proxy`: routes, lifecycle, capture, inventory, export
    "strangler_proxy.serve",  # `strangler-proxy-serve`: the proxy under uvicorn (or granian)
    "strangler_proxy.settings",  # DJANGO_SETTINGS_MODULE of the proxy's processes
    "strangler_proxy.wsgi",  # the WSGI application (gunicorn)
    "strangler_proxy.asgi",  # the same application over ASGI (raw target kept)
    "strangler_proxy.routes.file",  # the route table's file and its one locked writer
    "strangler_proxy.routes.load",  # parse and validate a route table
    "strangler_proxy.export.nginx",  # the route table as nginx configuration
    "strangler_proxy.export.gateway",  # the route table as Kubernetes Gateway API objects
    "strangler_proxy.export.publish",  # regenerate the nginx plane and reload it (an edge's loop)
    "strangler_proxy.config",  # the proxy's configuration, read from its environment
)
