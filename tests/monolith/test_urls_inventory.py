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


def test_methods_come_from_the_view_where_it_tells_them():
    from django.contrib.auth.decorators import login_required
    from django.views import View
    from django.views.decorators.http import require_http_methods, require_POST, require_safe

    from servicekit.web.url_inventory import _methods

    @login_required
    @require_POST
    def publish(request):
        return None

    @require_http_methods(["GET", "PUT", "OPTIONS"])
    def document(request):
        return None

    class Ping(View):
        http_method_names = ["get", "post", "options"]

        def get(self, request):
            return None

        def delete(self, request):  # not in http_method_names: never dispatched
            return None

    assert _methods(publish) == ["POST"]  # through another decorator
    assert _methods(document) == ["GET", "HEAD", "PUT"]
    assert _methods(require_safe(lambda request: None)) == ["GET", "HEAD"]
    assert _methods(Ping.as_view()) == ["GET", "HEAD"]
    assert _methods(lambda request: None) == ["*"]  # a function view that does not say
