"""One shared world per module: the Python catalog and every buildable implementation."""

from __future__ import annotations

import concurrent.futures
import os

import pytest

from tests.polyglot.corpus import feed
from tests.polyglot.implementations import IMPLEMENTATIONS
from tests.polyglot.world import world
from tests.support.backends import require_or_skip


def build_all() -> None:
    """Every implementation built (a missing toolchain fails: each one's is on this machine or
    installs from its Debian packages)."""
    for impl in IMPLEMENTATIONS.values():
        impl.toolchain_install()
        assert not impl.missing_tools(), f"{impl.name} needs {impl.missing_tools()} on PATH"
        impl.build_run()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    if not os.environ.get("DATABASE_URL"):
        require_or_skip("postgres", "each implementation serves from its own PostgreSQL database")
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("amqp"):
        require_or_skip(
            "rabbitmq", "each implementation consumes the catalog's events from RabbitMQ"
        )
    the_feed = feed()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        building = pool.submit(build_all)  # while the Python catalog migrates its database
        with world(
            tmp_path_factory.mktemp("polyglot"),
            list(IMPLEMENTATIONS),
            feed_envelopes=the_feed.envelopes,
            expected=the_feed.expected,
            built=building.result,
        ) as shared_world:
            yield shared_world
