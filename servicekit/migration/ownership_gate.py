"""Ownership gates as one decorator or one mixin, for a write service or a view of any project.

    @owner_only("page")                       # a write service: raises OwnerMoving /
    def page_publish(*, page): ...            # HandoverInProgress when this side does not own

    @owner_only("page")                       # a function view: its writes (POST, PUT, PATCH,
    def page_edit(request, pk): ...           # DELETE) answer 503 problem+json + Retry-After

    class PageEditView(OwnerOnlyMixin, View):  # a class-based view, the same for its writes
        owner_entity = "page"

The check is `ownership.require_ownership` (the one rule: only the owner writes an entity, and
nobody while it is frozen for a handover); this module only decides where it runs and how a
refusal reaches an HTTP client: a 503 with `Retry-After`, since the proxy's route follows the
owner within a moment. Reads pass everywhere. An adopted project names its own entities in the
`OWNERSHIP_ENTITIES` setting.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse

from servicekit.migration.ownership import HandoverInProgress, OwnerMoving, require_ownership
from servicekit.web.errors import application_error_response

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., Any])


def gate_request(request: HttpRequest, entity: str) -> HttpResponse | None:
    """None when the request may go on (a read, or a write this service owns)."""
    if request.method not in WRITES:
        return None
    try:
        require_ownership(entity)
    except (OwnerMoving, HandoverInProgress) as error:
        return application_error_response(request, error)
    return None


def owner_only(entity: str) -> Callable[[F], F]:
    """Gate a write service (keyword-only arguments: raises) or a function view (its first
    argument a request: answers 503 to writes) on owning `entity`."""

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def gated(*args: Any, **kwargs: Any) -> Any:
            if args and isinstance(args[0], HttpRequest):
                refusal = gate_request(args[0], entity)
                if refusal is not None:
                    return refusal
            else:
                require_ownership(entity)
            return function(*args, **kwargs)

        return gated  # type: ignore[return-value]

    return decorate


class OwnerOnlyMixin:
    """First among a class-based view's bases: its writes need this service to own
    `owner_entity`."""

    owner_entity: str = ""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not self.owner_entity:
            raise TypeError(f"{type(self).__name__} needs owner_entity = '<entity>'")
        refusal = gate_request(request, self.owner_entity)
        if refusal is not None:
            return refusal
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
