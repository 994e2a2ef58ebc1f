from django.apps import AppConfig


class GraphqlApiConfig(AppConfig):
    name = "extracted.catalog.graphql_api"
    label = "catalog_graphql"
    verbose_name = "Catalog GraphQL read API"
