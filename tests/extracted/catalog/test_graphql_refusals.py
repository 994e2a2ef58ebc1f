"""The GraphQL endpoint refuses expensive, malformed and (in production) unlisted documents, always
with a GraphQL `errors` array, never a 500 or an HTML page."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from extracted.catalog.graphql_api import limits, persisted
from extracted.catalog.graphql_api.schema import schema
from tests.extracted.catalog.builders import catalog_rows
from tests.extracted.catalog.graphql_client import URL, by_hash, get, operation, post

pytestmark = pytest.mark.django_db


def errors_of(response, status: int = 200) -> list[dict]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["errors"], body
    return body["errors"]


def codes(errors: list[dict]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in errors]


def test_a_document_deeper_than_the_limit_is_refused(client):
    catalog_rows(2)
    ok = "{ categories { products { category { products { sku } } } } }"  # 4 selection sets
    assert "errors" not in post(client, ok).json()
    deep = "{ categories { products { category { products { category { slug } } } } } }"
    (error,) = errors_of(post(client, deep))
    assert f"exceeds maximum operation depth of {limits.MAX_DEPTH}" in error["message"]


def test_too_many_aliases_are_refused(client):
    aliases = " ".join(f"a{n}: categories {{ slug }}" for n in range(limits.MAX_ALIASES + 1))
    (error,) = errors_of(post(client, f"{{ {aliases} }}"))
    assert "aliases found" in error["message"]


def test_a_document_longer_than_the_token_limit_is_refused(client):
    fields = " ".join(["slug"] * limits.MAX_TOKENS)
    (error,) = errors_of(post(client, f"{{ categories {{ {fields} }} }}"))
    assert f"more than {limits.MAX_TOKENS} tokens" in error["message"]


def test_a_page_size_over_the_rest_cap_is_a_graphql_error_naming_it(client):
    (error,) = errors_of(post(client, "{ products(pageSize: 101) { count } }"))
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "pageSize"}
    (error,) = errors_of(post(client, "{ products(page: 9) { count } }"))
    assert error["extensions"]["argument"] == "page"


@pytest.mark.parametrize(
    ("send", "status", "code"),
    [
        (
            lambda c: c.post(URL, data="{not json", content_type="application/json"),
            400,
            "BAD_REQUEST",
        ),
        (lambda c: c.post(URL, data="query=x", content_type="text/plain"), 400, "BAD_REQUEST"),
        (lambda c: c.post(URL, data="[]", content_type="application/json"), 400, "BAD_REQUEST"),
        (lambda c: post(c, None), 400, "BAD_REQUEST"),
        (
            lambda c: c.put(URL, data="{}", content_type="application/json"),
            405,
            "METHOD_NOT_ALLOWED",
        ),
        # GraphiQL is for DEBUG only: a browser gets a GraphQL error, not the IDE
        (lambda c: c.get(URL, HTTP_ACCEPT="text/html"), 400, "BAD_REQUEST"),
    ],
    ids=["bad-json", "content-type", "batch", "no-query", "put", "ide-off"],
)
def test_a_malformed_request_is_a_graphql_error(client, send, status, code):
    assert codes(errors_of(send(client), status)) == [code]


def test_a_bad_document_is_a_graphql_error(client):
    (syntax,) = errors_of(post(client, "{ products { "))
    assert syntax["message"].startswith("Syntax Error")
    (unknown,) = errors_of(post(client, "{ products { price_in_bitcoin } }"))
    assert "Cannot query field 'price_in_bitcoin'" in unknown["message"]
    (variables,) = errors_of(post(client, operation("Product"), {"sku": 12}))
    assert "sku" in variables["message"]


def test_an_unexpected_failure_is_masked_not_a_500(client, monkeypatch):
    from extracted.catalog.products import selectors

    def broken(**kwargs):
        raise RuntimeError("password=hunter2 in a stack trace")

    monkeypatch.setattr(selectors, "product_get", broken)
    (error,) = errors_of(post(client, '{ product(sku: "X-1") { sku } }'))
    assert error["message"] == "Unexpected error."


def test_introspection_and_graphiql_only_when_debug(client, settings):
    introspect = "{ __schema { queryType { name } } }"
    settings.DEBUG = False
    assert "introspection has been disabled" in errors_of(post(client, introspect))[0]["message"]
    settings.DEBUG = True
    assert post(client, introspect).json()["data"]["__schema"]["queryType"]["name"] == "Query"
    ide = client.get(URL, HTTP_ACCEPT="text/html")
    assert ide.status_code == 200 and b"graphiql" in ide.content.lower()


def test_production_runs_only_allow_listed_documents(client, settings):
    # given: production's setting, and a product
    settings.GRAPHQL_PERSISTED_ONLY = True
    skus = catalog_rows(1)
    # then: a document nobody listed is refused, before it runs
    (refused,) = errors_of(post(client, "{ categories { slug } }"), 400)
    assert refused["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    # and: a listed one is served by its hash, over POST and over a (cacheable) GET
    by_post = post(client, None, {"sku": skus[0]}, extensions=by_hash("Product"))
    assert by_post.json()["data"]["product"]["sku"] == skus[0]
    by_get = get(client, variables={"sku": skus[0]}, extensions=by_hash("Product"))
    assert by_get.json() == by_post.json()
    # and: its text, sent as a client would without the hash, is listed too
    assert post(client, operation("Product"), {"sku": skus[0]}).json() == by_post.json()
    unknown = {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}
    assert codes(errors_of(post(client, None, extensions=unknown), 400)) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    mismatch = post(client, "{ categories { slug } }", extensions=by_hash("Product"))
    assert codes(errors_of(mismatch, 400)) == ["PERSISTED_QUERY_MISMATCH"]


def test_outside_production_any_document_runs_and_hashes_still_work(client, settings):
    settings.GRAPHQL_PERSISTED_ONLY = False
    catalog_rows(1)
    assert post(client, "{ categories { slug } }").json() == {
        "data": {"categories": [{"slug": "kind-0"}, {"slug": "kind-1"}]}
    }
    listed = post(client, None, extensions=by_hash("CategoriesWithProducts")).json()
    assert listed["data"]["categories"][0]["products"][0]["sku"] == "GQL-0000"


def test_the_committed_allow_list_is_current_and_every_document_is_valid():
    call_command("graphql_allowlist", "--check")
    assert persisted.allow_list() == persisted.manifest_build()
    assert len(persisted.allow_list()) >= 3
    for document in persisted.allow_list().values():
        result = schema.execute_sync(document, variable_values={"sku": "NONE-1"})
        assert result.errors is None, (document, result.errors)


def test_a_persisted_get_runs_its_document_even_where_graphiql_is_served(client, settings):
    settings.DEBUG = True
    catalog_rows(1)
    extensions = json.dumps(by_hash("CategoriesWithProducts"))
    answer = client.get(URL, {"extensions": extensions}, HTTP_ACCEPT="*/*")  # as curl sends
    assert answer["Content-Type"] == "application/json"
    assert answer.json()["data"]["categories"][0]["slug"] == "kind-0"
