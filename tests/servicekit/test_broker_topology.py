"""The events' topology helpers on the embedded (filesystem) broker."""

from __future__ import annotations

from kombu import Producer
from kombu.transport.virtual import BrokerState

from servicekit.events.broker.topology import (
    AtomicFilesystemTransport,
    broker_connection,
    declare_topology,
    delete_topology,
    event_exchange,
)


def queued(folder, queue: str) -> int:
    return len([path for path in folder.iterdir() if path.name.endswith(f".{queue}.msg")])


def test_deleting_the_topology_leaves_no_message_for_the_next_consumer(tmp_path, monkeypatch):
    """A test run's leftovers (say, duplicates a restarted relay sent after its consumer had
    stopped) must not reach the next run's consumer of a queue of the same name."""
    options = {k: str(tmp_path) for k in ("data_folder_in", "data_folder_out", "control_folder")}
    subscriptions = {"tests.copy": ("catalog.#",)}
    # given a message waiting in a subscriber's queue
    with broker_connection("filesystem://", options) as connection:
        channel = connection.channel()
        declare_topology(channel, exchange_name="ex.one", subscriptions=subscriptions)
        Producer(channel).publish(
            {"n": 1}, exchange=event_exchange("ex.one"), routing_key="catalog.product_created.v1"
        )
    assert queued(tmp_path, "tests.copy") == 1
    # when the run cleans up from another process, which knows no bindings (kombu keeps them
    # in the declaring process's memory)
    monkeypatch.setattr(AtomicFilesystemTransport, "global_state", BrokerState())
    with broker_connection("filesystem://", options) as connection:
        delete_topology(connection, exchange_name="ex.one", subscriptions=subscriptions)
    # then the queue's folder holds nothing of it
    assert queued(tmp_path, "tests.copy") == 0
