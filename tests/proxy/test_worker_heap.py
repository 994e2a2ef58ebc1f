"""Each proxy worker freezes what it loaded before it serves (granian's application factory,
gunicorn's worker class, the uvicorn worker's start): a full collection then walks only what came later, not the
~110,000 objects of Django, the proxy and their modules (strangler_proxy/serve.py)."""

from __future__ import annotations

import gc
import runpy
import weakref
from pathlib import Path

import pytest
from django.utils.module_loading import import_string

from servicekit.web.gunicorn_worker import ProblemThreadWorker
from strangler_proxy import serve

ROOT = Path(__file__).resolve().parents[2]


class _Cycle:
    def __init__(self):
        self.me = self  # only the collector frees it


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _loaded_garbage() -> weakref.ref:
    garbage = _Cycle()
    return weakref.ref(garbage)


def test_a_granian_worker_freezes_its_start_up_heap(unfrozen):
    gone = _loaded_garbage()
    assert gc.get_freeze_count() == 0
    application = serve.worker_application()
    assert callable(application)
    assert gone() is None, "start-up garbage was frozen instead of collected"
    assert gc.get_freeze_count() > 10_000  # Django, the proxy and its modules


def test_a_gunicorn_worker_freezes_its_start_up_heap(unfrozen):
    # the worker gunicorn.conf.py names is the services' ProblemThreadWorker, which freezes the
    # heap once the application is loaded (tests/servicekit/test_gunicorn_worker.py serves one)
    config = runpy.run_path(str(ROOT / "strangler_proxy" / "gunicorn.conf.py"))
    worker = import_string(config["worker_class"])
    assert issubclass(worker, ProblemThreadWorker)
    assert worker.load_wsgi is ProblemThreadWorker.load_wsgi


def test_a_uvicorn_worker_freezes_its_start_up_heap_before_it_serves(unfrozen, monkeypatch):
    import uvicorn

    from strangler_proxy.edge import uvicorn_server
    from tests.support.processes import free_port

    served = {}

    def run(server, sockets):
        served.update(frozen=gc.get_freeze_count(), config=server.config, sockets=sockets)

    monkeypatch.setattr(uvicorn.Server, "run", run)
    gone = _loaded_garbage()
    uvicorn_server._worker("127.0.0.1", free_port(), 5.0, "auto")
    assert gone() is None
    assert served["frozen"] > 10_000
    config = served["config"]
    assert issubclass(config.http, uvicorn_server.HeadDeadlineProtocol)
    assert config.http.head_timeout == 5.0
    assert config.proxy_headers is False  # the proxy is the edge: X-Forwarded-* never believed
    served["sockets"][0].close()
