"""Host a service's inbox consumers inside its Celery worker, as a Celery consumer bootstep.

`install(app)` in the service's Celery module adds the step; it consumes the queues named in
`settings.SERVICEKIT_CELERY_INBOX_CONSUMERS` (from `CELERY_INBOX_CONSUMERS`, comma separated)
beside the worker's task queues, so one `celery -A <service> worker` applies the service's
events and runs its tasks. Each message is applied in its own inbox transaction (idempotent,
ordered per aggregate, parked when early) and acknowledged only after that commit; a failure
requeues it. The worker's timer runs the processor's sweep (retries of parked events, gap
reports). `manage.py inbox_consume <consumer>` stays the leaner alternative: a process of its
own that applies batches (faster; see servicekit/EVENTS.md) — choose per service.
"""

from __future__ import annotations

import functools

import structlog
from celery import Celery, bootsteps
from django.conf import settings
from django.db import close_old_connections
from kombu import Consumer, Message

from servicekit.events.broker.topology import declare_topology, event_exchange, service_queue
from servicekit.events.envelope import Envelope

logger = structlog.get_logger("servicekit.inbox")
SWEEP_INTERVAL = 1.0


def celery_consumer_names() -> list[str]:
    return list(getattr(settings, "SERVICEKIT_CELERY_INBOX_CONSUMERS", []) or [])


class InboxConsumerStep(bootsteps.ConsumerStep):
    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.processors: dict = {}

    def get_consumers(self, channel) -> list[Consumer]:
        from servicekit.events.inbox.processor import InboxProcessor
        from servicekit.events.inbox.registry import get_consumer
        from servicekit.events.settings import events_settings

        names = celery_consumer_names()
        if not names:
            return []
        config = events_settings()
        declare_topology(channel, exchange_name=config.EXCHANGE, subscriptions=config.SUBSCRIPTIONS)
        exchange = event_exchange(config.EXCHANGE)
        consumers = []
        for name in names:
            processor = InboxProcessor(
                get_consumer(name),
                max_attempts=config.INBOX_MAX_ATTEMPTS,
                backoff_base=config.INBOX_BACKOFF_BASE,
                gap_report_seconds=config.INBOX_GAP_REPORT_SECONDS,
            )
            self.processors[name] = processor
            queue = service_queue(name, exchange=exchange, binding_keys=config.SUBSCRIPTIONS[name])
            consumers.append(
                Consumer(
                    channel,
                    queues=[queue],
                    callbacks=[functools.partial(self.on_message, processor)],
                    accept=["json"],
                    prefetch_count=config.INBOX_PREFETCH,
                )
            )
            logger.info("inbox.celery_consumer_started", consumer=name)
        return consumers

    def start(self, c) -> None:
        super().start(c)
        if self.processors:
            c.timer.call_repeatedly(SWEEP_INTERVAL, self.sweep)

    def sweep(self) -> None:
        for name, processor in self.processors.items():
            try:
                close_old_connections()
                processor.sweep()
            except Exception:
                logger.exception("inbox.sweep_failed", consumer=name)

    def on_message(self, processor, body, message: Message) -> None:
        try:
            envelope = Envelope.from_dict(body if isinstance(body, dict) else message.decode())
        except Exception as exc:
            logger.error(
                "inbox.malformed_message", consumer=processor.consumer.name, error=repr(exc)
            )
            message.reject(requeue=False)
            return
        try:
            processor.process([envelope])
        except Exception:
            logger.exception("inbox.apply_failed", consumer=processor.consumer.name)
            close_old_connections()
            message.requeue()
            return
        message.ack()


def install(app: Celery) -> None:
    """Add the step to `app` (harmless when no consumer is configured)."""
    app.steps["consumer"].add(InboxConsumerStep)
