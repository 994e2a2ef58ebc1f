"""`manage.py urls_inventory`: pattern text and examples a typed route really matches."""


def test_regex_patterns_keep_their_backslashes_and_get_matching_examples():
    from django.urls import re_path
    from django.urls.resolvers import RoutePattern

    from servicekit.web.url_inventory import _part

    documents = re_path(r"^documents/(\d+)/(?P<slug>[a-z-]+)/$", lambda r: None).pattern
    assert _part(documents) == (r"documents/(\d+)/<slug>/", "documents/1/x/")
    typed = RoutePattern("orders/<int:order_id>/lines/<uuid:line>/")
    assert _part(typed) == (
        "orders/<int:order_id>/lines/<uuid:line>/",
        "orders/1/lines/00000000-0000-0000-0000-000000000000/",
    )
