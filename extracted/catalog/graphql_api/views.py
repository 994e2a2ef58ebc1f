"""The GraphQL endpoint: strawberry's Django view, with every refusal in the GraphQL format."""

from __future__ import annotations

import json

from cross_web import HTTPException
from django.conf import settings
from django.http import HttpResponse
from strawberry.django.views import GraphQLView

from extracted.catalog.graphql_api import persisted
from extracted.catalog.graphql_api.schema import schema


def graphql_error_response(status: int, code: str, message: str) -> HttpResponse:
    """A request refused before it runs: `{"errors": [...]}` as any GraphQL client reads it."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    response = HttpResponse(
        json.dumps(body, separators=(",", ":")), status=status, content_type="application/json"
    )
    if status == 405:
        response["Allow"] = "GET, POST"
    return response


_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class CatalogGraphQLView(GraphQLView):
    """Queries over GET or POST (there are no mutations); GraphiQL only when DEBUG is on."""

    def __init__(self, **kwargs):
        super().__init__(schema=schema, **kwargs)

    def dispatch(self, request, *args, **kwargs):
        try:
            return self.run(request=request)
        except HTTPException as exc:  # strawberry answers these as text/plain
            return graphql_error_response(
                exc.status_code, _CODES.get(exc.status_code, "BAD_REQUEST"), exc.reason
            )
        except persisted.PersistedQueryError as exc:
            return graphql_error_response(400, exc.code, str(exc))

    def should_render_graphql_ide(self, request) -> bool:
        """A browser's GET with no document, when DEBUG is on; a persisted query's GET carries
        no `query` either, but its `extensions` name the document to run."""
        return (
            settings.DEBUG
            and request.query_params.get("extensions") is None
            and super().should_render_graphql_ide(request)
        )

    def parse_http_body(self, request):
        data = super().parse_http_body(request)
        if isinstance(data, list):  # batching is off: the base view refused it already
            return data
        data.query = persisted.document_resolve(
            query=data.query,
            extensions=data.extensions,
            persisted_only=settings.GRAPHQL_PERSISTED_ONLY,
        )
        return data
