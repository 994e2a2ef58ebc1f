"""A Django project we did not write, behind the proxy: what a team meets first works by default.

`django-admin startproject` (the admin, a superuser, an upload view of stock Django code) under
gunicorn, our proxy under its real server in front with the defaults: the admin's login form
POST passes Django's CSRF origin check, an upload larger than the proxy's default cap goes
through on a route that allows it, an early CSRF refusal of a large POST reaches the client as
the app's 403, HTML pages shadow cleanly with a CSRF ignore pattern, and the route inventory
walks the project's URLconf without anything copied into it. One app and one proxy per module.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import pytest
import requests

from tests.proxy.conftest import ADMIN_TOKEN, routes_yaml, upstream_spec, write_routes
from tests.proxy.processes import BIN, ROOT, ProxyProcess
from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_for, wait_http

pytestmark = pytest.mark.e2e

PASSWORD = "foreign-admin-pass-8451"
CSRF_VALUE = r'name="csrfmiddlewaretoken" value="([^"]+)"'
BIG = 12 * 1024 * 1024  # over the proxy's default 10 MiB cap
UPLOADS = textwrap.dedent(
    '''
    """An upload form and two small views (stock Django, as any project has)."""
    from django.http import HttpResponse
    from django.middleware.csrf import get_token
    from django.views import View
    from django.views.decorators.http import require_http_methods


    @require_http_methods(["GET", "POST"])
    def upload(request):
        if request.method == "POST":
            return HttpResponse(f"received {request.FILES['file'].size} bytes")
        token = get_token(request)
        return HttpResponse(
            '<form method="post" enctype="multipart/form-data">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
            '<input type="file" name="file"></form>'
        )


    def document(request, number):
        return HttpResponse(f"document {number}")


    class Ping(View):
        def get(self, request):
            return HttpResponse("pong")
    '''
)
URLS = textwrap.dedent(
    """
    from django.urls import path, re_path

    from mysite import uploads

    urlpatterns += [
        path("upload/", uploads.upload),
        re_path(r"^documents/(\\d+)/$", uploads.document),
        path("ping/", uploads.Ping.as_view()),
    ]
    """
)


@dataclass
class Foreign:
    folder: Path
    app: str
    proxy: ProxyProcess
    routes: Path

    @property
    def url(self) -> str:
        return self.proxy.url


def _project_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_")}
    env["DJANGO_SETTINGS_MODULE"] = "mysite.settings"  # ours would leak through setdefault
    env.pop("PYTHONPATH", None)
    return env


def _run(command: list[str], *, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _start_project(folder: Path) -> None:
    env = _project_env()
    _run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(folder)], cwd=folder, env=env
    )
    (folder / "mysite" / "uploads.py").write_text(UPLOADS)
    with (folder / "mysite" / "urls.py").open("a") as urls:
        urls.write(URLS)
    with (folder / "mysite" / "settings.py").open("a") as settings:
        # what any site behind a proxy sets: the public name (here the loopback address)
        settings.write('\nALLOWED_HOSTS = ["127.0.0.1", "localhost"]\n')
    setup = (
        "from django.core.management import call_command\n"
        "from django.contrib.auth.models import User\n"
        "call_command('migrate', verbosity=0)\n"
        f"User.objects.create_superuser('admin', 'admin@example.com', {PASSWORD!r})\n"
    )
    # migrate and a superuser in one interpreter (two commands cost a Django start each)
    _run([sys.executable, "manage.py", "shell", "-c", setup], cwd=folder, env=env)


def _routes(app: str) -> str:
    return routes_yaml(
        {"monolith": upstream_spec(app), "candidate": upstream_spec(app)},
        [
            # the app allows large uploads here; elsewhere the proxy's default cap holds
            {"name": "uploads", "prefix": "/upload/", "max_body": 64 * 1024 * 1024},
            {"name": "documents", "pattern": "/documents/<int:number>/", "methods": ["GET"]},
            {
                "name": "admin-pages",
                "prefix": "/admin/",
                "methods": ["GET", "HEAD"],
                "mode": "shadow",
                "upstream": "candidate",
                "shadow": {"ignore_patterns": [CSRF_VALUE]},
            },
        ],
    )


@pytest.fixture(scope="module")
def foreign(tmp_path_factory) -> Iterator[Foreign]:
    folder = tmp_path_factory.mktemp("foreign")
    _start_project(folder)
    port = free_port()
    app = f"http://127.0.0.1:{port}"
    log = (folder / "gunicorn.log").open("wb")
    # gunicorn's default sync workers: they close the connection after each answer, unread
    # body and all (what makes an early answer break the proxy's write)
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "mysite.wsgi",
            f"--bind=127.0.0.1:{port}",
            "--workers=2",
            "--graceful-timeout=2",
        ],
        cwd=folder,
        env=_project_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"{app}/admin/login/", process=server)
        data = folder / "proxy"
        routes = write_routes(folder / "routes.yaml", _routes(app))
        env = {"STRANGLER_ADMIN_TOKEN": ADMIN_TOKEN}  # STRANGLER_MAX_BODY: the default
        with ProxyProcess(routes, data_dir=data, env=env) as proxy:
            yield Foreign(folder=folder, app=app, proxy=proxy, routes=routes)
    finally:
        stop_process(server)
        log.close()


def _token(page: str) -> str:
    match = re.search(CSRF_VALUE, page)
    assert match, page[:500]
    return match.group(1)


def _logged_in(base: str) -> requests.Session:
    """The admin login as a browser does it through `base`: the form, its token, Origin set."""
    browser = requests.Session()
    form = browser.get(f"{base}/admin/login/?next=/admin/", timeout=30)
    assert form.status_code == 200
    answer = browser.post(
        f"{base}/admin/login/?next=/admin/",
        data={
            "csrfmiddlewaretoken": _token(form.text),
            "username": "admin",
            "password": PASSWORD,
            "next": "/admin/",
        },
        headers={"Origin": base, "Referer": f"{base}/admin/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, answer.text[:2000]
    assert answer.headers["Location"] == "/admin/"
    return browser


def test_the_admin_login_form_post_succeeds_through_the_proxy(foreign):
    browser = _logged_in(foreign.url)
    index = browser.get(f"{foreign.url}/admin/", timeout=30)
    assert index.status_code == 200
    assert "Site administration" in index.text
    # the app built its absolute URLs with the public address, not its own
    assert foreign.app not in index.text


def test_with_the_instances_host_the_same_post_fails_on_the_origin_check(foreign, make_proxy):
    # why preserve_host is the default: an app that does not believe X-Forwarded-Host sees
    # the instance's address as its host, and the browser's Origin does not match it
    client = make_proxy(
        routes_yaml({"monolith": upstream_spec(foreign.app, preserve_host=False)}, [])
    )
    public = {"HTTP_HOST": "127.0.0.1:8999"}
    form = client.get("/admin/login/", **public)
    # the upstream's Set-Cookie lines pass verbatim (not as morsels the test client can keep)
    cookie = next(c.value for c in form.cookies.values() if c.value.startswith("csrftoken="))
    client.cookies = SimpleCookie()
    refused = client.post(
        "/admin/login/",
        {"csrfmiddlewaretoken": _token(form.content.decode()), "username": "admin"},
        HTTP_ORIGIN="http://127.0.0.1:8999",
        HTTP_COOKIE=cookie.split(";", 1)[0],
        **public,
    )
    assert refused.status_code == 403
    assert b"Origin checking failed" in refused.content


def _upload(session: requests.Session, base: str, size: int, **headers) -> requests.Response:
    form = session.get(f"{base}/upload/", timeout=30)
    return session.post(
        f"{base}/upload/",
        data={"csrfmiddlewaretoken": _token(form.text)},
        files={"file": ("big.bin", b"u" * size, "application/octet-stream")},
        headers={"Origin": base, **headers},
        timeout=60,
    )


def test_an_upload_over_the_default_cap_passes_on_a_route_that_allows_it(foreign):
    answer = _upload(requests.Session(), foreign.url, BIG)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.text == f"received {BIG} bytes"


def test_over_the_cap_a_browser_gets_a_page_and_an_api_client_problem_json(foreign):
    body = b"x" * BIG
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = requests.post(
        f"{foreign.url}/admin/login/", data=body, headers={"Accept": browser}, timeout=30
    )
    assert page.status_code == 413
    assert page.headers["Content-Type"].startswith("text/html")
    assert "<h1>413 " in page.text and "exceeds 10485760 bytes" in page.text
    api = requests.post(
        f"{foreign.url}/admin/login/",
        data=body,
        headers={"Accept": "application/json"},
        timeout=30,
    )
    assert api.status_code == 413
    assert api.headers["Content-Type"] == "application/problem+json"
    assert api.json()["code"] == "payload_too_large"


def test_an_early_csrf_refusal_of_a_large_post_reaches_the_client_as_the_apps_403(foreign):
    # Django refuses a foreign Origin from the head alone; gunicorn closes without reading the
    # 12 MiB body, so the proxy's write breaks: the app's answer is relayed, not a 502
    stranger = requests.Session()
    answer = stranger.post(
        f"{foreign.url}/upload/",
        files={"file": ("big.bin", b"u" * BIG, "application/octet-stream")},
        headers={"Origin": "http://evil.example"},
        timeout=60,
    )
    assert answer.status_code == 403, answer.text[:500]
    assert "Origin checking failed" in answer.text


def _shadow(base: str) -> dict:
    answer = requests.get(
        f"{base}/_strangler/shadow",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=10,
    )
    return answer.json()


def test_admin_pages_shadow_cleanly_with_the_csrf_ignore_pattern(foreign):
    # a fresh token on every page and a redirect to the login: compared, all matching
    browser = _logged_in(foreign.url)
    for _ in range(3):
        assert browser.get(f"{foreign.url}/admin/login/", timeout=30).status_code in (200, 302)
    assert browser.get(f"{foreign.url}/admin/auth/user/", timeout=30).status_code == 200
    anonymous = requests.get(f"{foreign.url}/admin/", allow_redirects=False, timeout=30)
    assert anonymous.status_code == 302

    def counted() -> dict:
        return _shadow(foreign.url)["comparisons"].get("admin-pages", {})

    wait_for(lambda: sum(counted().values()) >= 6, timeout=20, what="six shadow comparisons")
    assert counted().get("mismatch", 0) == 0, _shadow(foreign.url)["recent_differences"]
    assert counted().get("match", 0) >= 6


def test_the_inventory_walks_the_foreign_urlconf_without_copying_anything(foreign):
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRANGLER_MONOLITH_")}
    env["STRANGLER_MONOLITH_SETTINGS"] = "mysite.settings"
    env["STRANGLER_MONOLITH_DIR"] = str(foreign.folder)
    command = [sys.executable, "-m", "strangler_proxy", "inventory", "--json"]
    command += ["--file", str(foreign.routes), "--metrics", "none"]
    rows = json.loads(_run(command, cwd=ROOT, env=env))["endpoints"]
    by_key = {(r["method"], r["pattern"]): r for r in rows}
    assert {m for m, p in by_key if p == "/upload/"} == {"GET", "HEAD", "POST"}
    assert by_key[("POST", "/upload/")]["route"] == "uploads"
    assert {m for m, p in by_key if p == "/ping/"} == {"GET", "HEAD"}
    # a regex pattern as written; its example (digits) is one the typed route matches
    assert by_key[("*", r"/documents/(\d+)/")]["route"] == "documents"
    assert by_key[("*", "/admin/")]["route"] == "admin-pages"
    assert not list(foreign.folder.rglob("urls_inventory*"))  # nothing copied in
