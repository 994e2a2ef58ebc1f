from django.urls import path

from extracted.catalog.graphql_api.views import CatalogGraphQLView

app_name = "graphql_api"
urlpatterns = [path("", CatalogGraphQLView.as_view(), name="graphql")]
