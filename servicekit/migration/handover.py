"""Hand an entity's ownership from one service to another without losing or forking a change.

1. Freeze: `ownership.yaml` says `frozen`, so both sides refuse writes (503, Retry-After).
2. Grace: wait out writes that checked ownership just before the freeze.
3. Drain: read the old owner's export (each row with its event sequence) until this service's
   inbox cursors have reached every row's sequence: it has applied every change.
4. Route: the proxy routes the entity governs (`--route`) move to the new owner while writes are
   still frozen, so no write the proxy sends there can land before the new owner may take it;
   then the handover waits out the proxy workers' reload interval, so when writes resume every
   worker sends them, and the reads that must follow them (a login after a sign-up), to the
   new owner.
5. Flip: name the new owner. Because applying an event raised this service's own sequence
   (servicekit.events.inbox.mirror), its first event continues each aggregate's stream.
Any failure puts the previous routes and the previous owner back.

From a client's side the handover is one step: writes answer 503 with `Retry-After` while frozen,
and a proxy worker that has not reloaded the routes yet (a second at most) sends a write to the
old owner, which answers 503 `owner_moving` with `Retry-After` (never a 409 a client cannot act
on); the retry lands on the new owner.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from servicekit.events.inbox.models import InboxCursor
from servicekit.migration.export_client import (
    ExportError,
    ExportSource,
    add_export_arguments,
    export_policy,
)
from servicekit.migration.ownership import DEFAULT_OWNER, FROZEN, owner_of, ownership_set
from servicekit.migration.proxy_routes import ProxyRoutes, RouteError
from servicekit.web.commands import NO_SYSTEM_CHECKS


@dataclass(frozen=True)
class Stream:
    """One kind of row in the export: `rows` key in a page, aggregate type, and its id field."""

    rows: str
    aggregate_type: str
    key: str


# A proxy worker re-reads the routes file at most a second after it changed (on its next request);
# flipping the owner later than that means no worker still routes the entity to the old owner.
# With a shared control store the flip itself returns once every live replica applied it
# (`Routes.confirms_applied`), and nothing is left to wait for.
ROUTES_RELOAD = 1.5


class HandoverTimeout(RuntimeError):
    pass


class HandoverRefused(RuntimeError):
    """A precondition failed before anything was frozen (for example a route that cannot follow)."""


class Routes(Protocol):
    """The proxy's route table as a handover sees it (servicekit.migration.proxy_routes).

    `confirms_applied`: `set_mode` returns only once every proxy replica serves the change (a
    shared control store); otherwise replicas pick it up within their reload interval."""

    confirms_applied: bool

    def show(self, name: str) -> dict[str, Any]: ...

    def set_mode(self, name: str, mode: str) -> None: ...


class _NoRoutes:
    confirms_applied = True

    def show(self, name: str) -> dict[str, Any]:
        raise LookupError(name)

    def set_mode(self, name: str, mode: str) -> None:
        raise LookupError(name)


def route_mode_for(owner: str) -> str:
    """The mode that sends a route's traffic to `owner`: the monolith, or the route's upstream."""
    return "monolith" if owner == DEFAULT_OWNER else "extracted"


def routes_check(routes: Routes, names: list[str], *, to: str) -> dict[str, str]:
    """Each route's current mode; refuse a route whose upstream is not the new owner."""
    modes = {}
    for name in names:
        route = routes.show(name)
        if to != DEFAULT_OWNER and route.get("upstream") != to:
            raise HandoverRefused(
                f"route {name} sends extracted traffic to {route.get('upstream')!r}, not to {to}"
            )
        modes[name] = route.get("mode", "monolith")
    return modes


def _routes_set(routes: Routes, modes: dict[str, str], report: Callable[[str], None]) -> None:
    for name, mode in modes.items():
        routes.set_mode(name, mode)
        report(f"route {name}: {mode}")


def rows_behind(pages: Iterable[dict[str, Any]], *, consumer: str, streams: list[Stream]) -> int:
    """How many exported rows carry a sequence this consumer has not applied yet."""
    behind = 0
    seen: set[tuple[str, str]] = set()
    for page in pages:
        for stream in streams:
            # aggregate ids are strings in the inbox, whatever the export's key type (user ids)
            rows = [
                r
                for r in page.get(stream.rows, [])
                if (stream.aggregate_type, str(r[stream.key])) not in seen
            ]
            if not rows:
                continue
            cursors = dict(
                InboxCursor.objects.filter(
                    consumer=consumer,
                    aggregate_type=stream.aggregate_type,
                    aggregate_id__in=[str(r[stream.key]) for r in rows],
                ).values_list("aggregate_id", "last_sequence")
            )
            for row in rows:
                seen.add((stream.aggregate_type, str(row[stream.key])))
                if row["sequence"] > cursors.get(str(row[stream.key]), 0):
                    behind += 1
    return behind


def handover(
    *,
    entity: str,
    to: str,
    consumer: str,
    export: Callable[[], Iterable[dict[str, Any]]],
    streams: list[Stream],
    grace: float = 1.0,
    timeout: float = 60.0,
    poll: float = 0.3,
    report: Callable[[str], None] = lambda line: None,
    routes: Routes | None = None,
    route_names: list[str] | None = None,
    routes_reload: float = ROUTES_RELOAD,
) -> None:
    """Freeze, drain, move `route_names` (through `routes`), flip; undo all of it on failure."""
    names = list(route_names or [])
    if routes is None:
        if names:
            raise ValueError("route_names need routes")
        routes = _NoRoutes()
    previous = owner_of(entity)
    # checked before the freeze: a route that cannot follow refuses the handover up front
    before = routes_check(routes, names, to=to)
    target = {name: route_mode_for(to) for name in names}
    if previous == to:
        report(f"{entity} is already owned by {to}")
        # a rerun also repairs routes that were left behind
        _routes_set(routes, {n: m for n, m in target.items() if before[n] != m}, report)
        return
    ownership_set(entity, FROZEN)
    report(f"{entity}: writes frozen (was {previous})")
    moved: dict[str, str] = {}
    try:
        time.sleep(grace)
        deadline = time.monotonic() + timeout
        while (behind := rows_behind(export(), consumer=consumer, streams=streams)) > 0:
            if time.monotonic() > deadline:
                raise HandoverTimeout(f"{behind} {entity} rows still not applied after {timeout} s")
            report(f"{entity}: waiting for {behind} changes to arrive")
            time.sleep(poll)
        for name, mode in target.items():
            moved[name] = before[name]
            _routes_set(routes, {name: mode}, report)
        if moved and not routes.confirms_applied:
            time.sleep(routes_reload)
        ownership_set(entity, to)
        report(f"{entity}: now owned by {to}")
    except BaseException:
        for name, mode in moved.items():
            try:
                _routes_set(routes, {name: mode}, report)
            except Exception as exc:  # the owner must still go back
                report(f"route {name}: could not put back {mode}: {exc}")
        ownership_set(entity, previous)
        report(f"{entity}: handover aborted, {previous} owns it again")
        raise


class TakeoverCommand:
    """Mixin for a `BaseCommand`: this service takes `entity` over from the service at --source.

    Subclasses set `entity`, `consumer` (this service's inbox consumer of the entity's stream),
    `export_path` (the source's staff export API) and `streams`; they may override the hooks
    `check_preconditions()`, `check_source(pages)` (the source's export, read before anything
    is frozen), `export(pages)` (what each drain pass does with the source's pages) and
    `after_flip()`.
    """

    entity: str
    consumer: str
    export_path: str
    streams: list[Stream]
    requires_system_checks = NO_SYSTEM_CHECKS
    help = (
        "Freeze writes, wait until this service applied every change of the source, flip the owner."
    )

    def add_arguments(self, parser) -> None:
        import os

        parser.add_argument("--source", required=True, help="the current owner's base URL")
        parser.add_argument("--token", default=os.environ.get("HANDOVER_TOKEN", ""))
        parser.add_argument("--username", default="staff")
        parser.add_argument(
            "--token-url",
            default=os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001") + "/api/v1/auth/token",
            help="where a staff token is issued (the identity provider)",
        )
        parser.add_argument("--timeout", type=float, default=60.0)
        parser.add_argument(
            "--route",
            action="append",
            default=[],
            dest="routes",
            metavar="NAME",
            help="a proxy route this entity's writes take (repeatable): it moves to the new "
            "owner inside the handover, and back if the handover fails",
        )
        parser.add_argument(
            "--routes-file",
            default="",
            help="the proxy's routes file (default: the proxy's, $STRANGLER_ROUTES_FILE or "
            "<data folder>/routes.yaml)",
        )
        add_export_arguments(parser)

    def check_preconditions(self) -> None:
        """Raise CommandError when this takeover must not start."""

    def check_source(self, pages: Iterable[dict[str, Any]]) -> None:
        """Raise CommandError when the source's export says this takeover must not start yet
        (nothing is frozen). The default reads nothing."""

    def export(self, pages: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
        """One drain pass over the source's export; the pages feed the caught-up check."""
        return pages

    def after_flip(self) -> None:
        """Runs once this service owns the entity."""

    def handle(
        self, *args, source, token, username, token_url, timeout, routes, routes_file, **options
    ) -> None:
        import os

        from django.conf import settings
        from django.core.management.base import CommandError

        self.check_preconditions()
        exporter = ExportSource(source, token=token, policy=export_policy(options))
        try:
            if not token:
                exporter.login(
                    username=username,
                    password=os.environ.get("HANDOVER_PASSWORD", ""),
                    token_url=token_url,
                )
            self.check_source(exporter.pages(self.export_path))
            handover(
                entity=self.entity,
                to=settings.SERVICE_NAME,
                consumer=self.consumer,
                export=lambda: self.export(exporter.pages(self.export_path)),
                streams=self.streams,
                timeout=timeout,
                report=self.stdout.write,
                routes=ProxyRoutes(routes_file=routes_file),
                route_names=routes,
            )
        except (ExportError, HandoverTimeout, HandoverRefused, RouteError) as exc:
            raise CommandError(str(exc)) from exc
        self.after_flip()
