"""The one place the handler is built: from the environment, once per process (a warm
instance reuses its database connection across invocations)."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

from extracted.notifications.notifications.emails import order_email_switch
from functions.order_email.core import OrderEmailHandler
from functions.order_email.ledger import EmailLedger
from functions.order_email.mailer import SmtpMailer


def handler_from_env(environ: Mapping[str, str] = os.environ) -> OrderEmailHandler:
    """Needs ORDER_EMAIL_DATABASE_URL and ORDER_EMAIL_SMTP_URL; a missing one fails the start.

    Emails only the order events `NOTIFICATIONS_ORDER_EMAIL` (+ `_SINCE`) gives the function,
    the same settings the notifications service reads; unset, the service sends them all.
    """
    missing = [
        name
        for name in ("ORDER_EMAIL_DATABASE_URL", "ORDER_EMAIL_SMTP_URL")
        if not environ.get(name)
    ]
    if missing:
        raise RuntimeError(f"the order-email function needs {', '.join(missing)}")
    switch = order_email_switch(
        environ.get("NOTIFICATIONS_ORDER_EMAIL"), environ.get("NOTIFICATIONS_ORDER_EMAIL_SINCE")
    )  # a wrong value fails the start (ValueError), like a missing URL
    return OrderEmailHandler(
        ledger=EmailLedger.connect(environ["ORDER_EMAIL_DATABASE_URL"]),
        mailer=SmtpMailer(environ["ORDER_EMAIL_SMTP_URL"]),
        from_email=environ.get("DEFAULT_FROM_EMAIL") or "shop@strangler.local",
        claim_lease=float(environ.get("ORDER_EMAIL_CLAIM_LEASE_SECONDS") or 300),
        switch=switch,
    )


@functools.cache
def default_handler() -> OrderEmailHandler:
    return handler_from_env()
