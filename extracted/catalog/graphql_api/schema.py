"""The catalog's GraphQL schema: reads only, through the same selectors as the REST API.

Limits (see `limits.py`) refuse an expensive document before it runs; the optimizer turns a
nested selection (categories with their products and stock) into a fixed number of queries.
"""

from __future__ import annotations

import logging

import strawberry
import strawberry_django
from django.core.paginator import EmptyPage, Paginator
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry_django.optimizer import DjangoOptimizerExtension

from extracted.catalog.graphql_api import limits
from extracted.catalog.graphql_api.types import CategoryType, ProductPage, ProductType
from extracted.catalog.products import selectors
from servicekit.web.pagination import PageNumberPagination

logger = logging.getLogger(__name__)
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = PageNumberPagination.max_page_size  # the REST list's cap, one number for both


def _bad_argument(name: str, message: str) -> GraphQLError:
    return GraphQLError(
        f"{name}: {message}", extensions={"code": "BAD_USER_INPUT", "argument": name}
    )


@strawberry.type
class Query:
    @strawberry.field(description="Active products, filtered and paged like GET /api/v1/products/.")
    def products(
        self,
        category: str = "",
        q: str = "",
        ordering: str = "sku",
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> ProductPage:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise _bad_argument("pageSize", f"must be between 1 and {MAX_PAGE_SIZE}")
        if ordering not in selectors.ORDERINGS:
            raise _bad_argument("ordering", f"must be one of {', '.join(selectors.ORDERINGS)}")
        filters = selectors.ProductFilters(category=category, q=q, ordering=ordering)
        paginator = Paginator(selectors.product_list(filters=filters), page_size)
        try:
            current = paginator.page(page)
        except EmptyPage:
            raise _bad_argument(
                "page", f"{page} is not a page (there are {paginator.num_pages})"
            ) from None
        return ProductPage(
            count=paginator.count, page=page, page_size=page_size, results=list(current)
        )

    @strawberry.field(description="One active product by SKU, or null.")
    def product(self, sku: str) -> ProductType | None:
        return selectors.product_get(sku=sku)

    @strawberry_django.field(description="Every category, by name, with its active products.")
    def categories(self) -> list[CategoryType]:
        return selectors.category_list()  # type: ignore[return-value] (the optimizer prefetches)


def _is_unexpected(error: GraphQLError) -> bool:
    """A bug's message (a database error, say) is not for clients; our own refusals are."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class CatalogSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:
        """A bug is logged as an error; a client's mistake (a bad document, a refused argument
        or a limit) is the client's, logged at INFO so it pages nobody."""
        unexpected = [error for error in errors if _is_unexpected(error)]
        super().process_errors(unexpected, execution_context)
        for error in errors:
            if not _is_unexpected(error):
                logger.info("graphql request refused: %s", error.message)


schema = CatalogSchema(
    query=Query,
    extensions=[
        *limits.extensions(),
        lambda: MaskErrors(should_mask_error=_is_unexpected),
        DjangoOptimizerExtension,
    ],
)
