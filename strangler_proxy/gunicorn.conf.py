"""Gunicorn settings for the proxy: gthread workers with header/body deadlines, shared metrics."""

import os
import shutil
import tempfile

wsgi_app = "strangler_proxy.wsgi:application"
# gthread, except that a request head is gathered by the event loop under a deadline: slow
# clients cannot hold the threads (strangler_proxy/edge/worker.py).
worker_class = "strangler_proxy.edge.worker.DeadlineThreadWorker"
workers = int(os.environ.get("STRANGLER_PROXY_WORKERS", "2"))
threads = int(os.environ.get("STRANGLER_PROXY_THREADS", "8"))
keepalive = 15
# Streams can last; a slow upstream answers 504 itself through the per-route read timeout.
timeout = int(os.environ.get("STRANGLER_PROXY_WORKER_TIMEOUT", "120"))
graceful_timeout = 30
# The proxy writes its own structured line per request (STRANGLER_PROXY_ACCESS_LOG, on by
# default; strangler_proxy/edge/access_log.py): gunicorn's would log each request twice.
accesslog = None
loglevel = "warning"
# The proxy is the edge: the scheme is its own, never a client's X-Forwarded-Proto. Behind a
# load balancer, list its addresses here; the proxy reads the same variable for X-Forwarded-For
# and -Host (strangler_proxy/edge/headers.client_view).
forwarded_allow_ips = os.environ.get("STRANGLER_PROXY_FORWARDED_ALLOW_IPS", "")
# Gunicorn refuses header names with underscores by default; keep it (no header smuggling).

# Every worker writes its samples here; a scrape of any worker sums them (prometheus_client).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="strangler-proxy-prom-")


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
