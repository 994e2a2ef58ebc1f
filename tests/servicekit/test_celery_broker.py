"""Celery's tasks on the embedded broker take the events' atomic filesystem channel."""

from __future__ import annotations

import json
import os

import pytest
from celery import Celery
from kombu import Consumer, Queue
from kombu.transport.virtual import base as virtual

from servicekit.events.broker.topology import (
    DRAIN_SLICE,
    _AtomicFilesystemChannel,
    broker_connection,
)
from servicekit.web.django_defaults import celery_settings


def app_for(broker_url: str, folder: str = "") -> Celery:
    settings = celery_settings(
        broker_url=broker_url,
        transport_options={
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": folder,  # kombu's default is ./control, in the checkout
        }
        if folder
        else {},
        eager=False,
    )
    app = Celery("check")
    app.config_from_object({k.removeprefix("CELERY_").lower(): v for k, v in settings.items()})
    return app


def test_a_task_message_file_is_never_seen_half_written(tmp_path):
    # given the embedded broker's settings
    app = app_for("filesystem://", str(tmp_path))
    # when a task is sent
    with app.connection_for_write() as connection:
        assert isinstance(connection.default_channel, _AtomicFilesystemChannel)
        app.send_task("check.task", kwargs={"n": 1}, connection=connection, queue="q")
    # then the queue folder holds only complete messages: written aside, renamed in
    # (kombu's own channel writes in place, and a worker reading it early stops on the JSON)
    messages = [name for name in os.listdir(tmp_path) if name.endswith(".q.msg")]
    assert len(messages) == 1
    assert json.loads((tmp_path / messages[0]).read_text())["headers"]["task"] == "check.task"


def test_a_real_broker_keeps_its_own_transport():
    assert "CELERY_BROKER_TRANSPORT" not in celery_settings(
        broker_url="amqp://guest:guest@127.0.0.1:5672//", transport_options={}, eager=False
    )


def test_a_wait_for_messages_gives_way_to_a_stop_request_soon(tmp_path, monkeypatch):
    """Celery's worker loop on this broker waits in drain_events(timeout=2.0) and sees a SIGTERM
    only between waits; the embedded transport hands control back within DRAIN_SLICE (seconds
    on a fake clock: kombu's polling sleeps advance it)."""
    clock = {"now": 0.0}
    monkeypatch.setattr(virtual, "monotonic", lambda: clock["now"])
    monkeypatch.setattr(virtual, "sleep", lambda s: clock.__setitem__("now", clock["now"] + s))
    folder = str(tmp_path)
    options = {"data_folder_in": folder, "data_folder_out": folder, "control_folder": folder}
    with broker_connection("filesystem://", options) as connection:
        channel = connection.default_channel
        with (
            Consumer(channel, queues=[Queue("q")], callbacks=[lambda *a: None]),
            pytest.raises(TimeoutError),
        ):
            connection.drain_events(timeout=2.0)  # nothing arrives
    assert clock["now"] <= DRAIN_SLICE + 0.001
