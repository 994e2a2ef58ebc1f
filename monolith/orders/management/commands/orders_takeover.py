"""`python manage.py orders_takeover --source $ORDERS --token $STAFF --route orders`: the monolith
takes `order` ownership back from the orders service (the rollback of migrations_plan/ 07).

Refused while a checkout runs (a stock reservation in the catalog, or a payment, means nothing to
the monolith): wait until every `orders_saga` is confirmed or cancelled, and rerun. Then freeze,
drain (every order change of the service applied here, the Idempotency-Keys copied; a checkout
that started just before the freeze is waited for), move the route, flip. Hand `inventory` back
after it (`inventory_takeover`).
"""

from django.core.management.base import BaseCommand, CommandError

from monolith.orders.handback import checkouts_running, orders_pages_apply
from servicekit.migration.handover import Stream, TakeoverCommand

SHOWN = 10


def _describe(running: dict[int, str]) -> str:
    shown = ", ".join(f"{order_id} ({step})" for order_id, step in list(running.items())[:SHOWN])
    more = f" and {len(running) - SHOWN} more" if len(running) > SHOWN else ""
    return f"{len(running)} checkouts still running: orders {shown}{more}"


class Command(TakeoverCommand, BaseCommand):
    entity = "order"
    consumer = "monolith.orders"
    export_path = "/api/v1/orders/export/"
    streams = [Stream("orders", "order", "aggregate_id")]

    def check_source(self, pages) -> None:
        if running := checkouts_running(pages):
            raise CommandError(
                f"{_describe(running)}. A checkout holds stock or money the monolith knows "
                "nothing of: wait until every one is confirmed or cancelled, then rerun."
            )

    def export(self, pages):
        for page in orders_pages_apply(pages):
            if running := checkouts_running([page]):
                self.stdout.write(f"order: waiting, {_describe(running)}")
            yield page
