"""Strangling a project we did not write: wagtail's starter site, adopted with one command.

The site runs under gunicorn from a virtual environment of its own (conftest.py); our toolkit
is installed there and `python -m strangler_proxy adopt` is run in the project's folder. Then:
the route table covers the URLconf, a crawl through the proxy answers byte for byte what the
site answers directly (ignore rules below), wagtail's page listing (`/api/v2/pages/`) moves to a
small extracted service (data/pages_service.py, filled by a backfill from the site's export
view) in shadow, then canary, with the lifecycle gates deciding; a change made by one of the
site's services (data/site_services.py, `outbox_record` added) reaches that service through the
outbox, the relay and its inbox exactly once, a redelivery included. One proxy per module.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
import yaml

from tests.adopt.conftest import (
    DATA,
    EXPORT_TOKEN,
    LISTING,
    PAGES,
    SETTINGS,
    Site,
    add_candidate,
    foreign_env,
)
from tests.support.processes import free_port, stop_process
from tests.support.wait import wait_for, wait_http

# the first test builds the site's virtual environment (pip: minutes on a loaded machine)
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

# The crawl's ignore rules, the only differences allowed between direct and proxied answers:
# - Django's CSRF token is masked anew on every render: in forms (the admin logins) and in
#   wagtail's admin configuration (`"CSRF_TOKEN": "..."` in a JSON script tag);
# - an absolute URL the app builds from the Host header names the address the client used
#   (the proxy's, or the app's own when called directly): DEBUG's 404 page shows one.
CSRF_TOKEN = re.compile(rb'(name="csrfmiddlewaretoken" value=|"CSRF_TOKEN": )"[^"]+"')
CRAWL_LIMIT = 60


@dataclass
class Adopted:
    site: Site
    out: Path
    env: dict[str, str]
    proxy: str

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """`python -m strangler_proxy ARGS` in the site's environment with proxy.env loaded."""
        done = subprocess.run(
            [str(self.site.python), "-m", "strangler_proxy", *args],
            cwd=self.site.folder,
            env=foreign_env(**self.env, STRANGLER_PROXY_URL=self.proxy),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert not check or done.returncode == 0, done.stdout + done.stderr
        return done


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


@pytest.fixture(scope="module")
def adopted(wagtail_site: Site) -> Iterator[Adopted]:
    out = wagtail_site.folder / "strangler"
    printed = wagtail_site.run(
        "-m", "strangler_proxy", "adopt", "--settings", SETTINGS,
        "--monolith", wagtail_site.url, "--out", "strangler/",
    )  # fmt: skip
    assert "next steps:" in printed and "python -m strangler_proxy.serve" in printed
    env = _env_file(out / "proxy.env")
    port = free_port()
    log = (out / "proxy.log").open("wb")
    proxy = subprocess.Popen(
        [str(wagtail_site.python), "-m", "strangler_proxy.serve", "--bind", f"127.0.0.1:{port}"],
        cwd=wagtail_site.folder,
        env=foreign_env(**env, STRANGLER_ROUTES_CHECK_INTERVAL="0.2"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_strangler/healthz", process=proxy)
        yield Adopted(wagtail_site, out, env, f"http://127.0.0.1:{port}")
    finally:
        stop_process(proxy)
        log.close()


def _endpoints(site: Site) -> list[dict]:
    printed = site.run(
        "-m", "servicekit.web.url_inventory", "--json", DJANGO_SETTINGS_MODULE=SETTINGS
    )
    return json.loads(printed)["endpoints"]


def test_the_route_table_covers_the_urlconf_every_pattern_its_own_route(adopted):
    endpoints = _endpoints(adopted.site)
    table = yaml.safe_load((adopted.out / "routes.yaml").read_text())
    routes = {r["name"]: r for r in table["routes"]}
    assert len(routes) == len(endpoints) > 100  # wagtail's admin alone has well over a hundred
    assert {r["mode"] for r in routes.values()} == {"monolith"}
    assert table["upstreams"]["monolith"]["instances"] == [
        f"${{STRANGLER_MONOLITH_URL:-{adopted.site.url}}}"
    ]
    # the proxy's own inventory: every endpoint and method resolved to a route
    report = json.loads(adopted.cli("inventory", "--json", "--metrics", "none").stdout)
    assert report["summary"]["uncovered"] == []
    typed = [e for e in endpoints if not re.search(r"[\\()\[\]^$*+?|]", e["pattern"])]
    assert len(typed) > 100
    for row in report["endpoints"]:
        route = routes[row["route"]]
        if (
            any(row["pattern"] == e["pattern"] for e in typed)
            and row["pattern"] != "/django-admin/"
        ):
            # a typed pattern is served by the route written for exactly that pattern
            assert route.get("pattern") == row["pattern"], row
        if row["method"] != "*":
            assert row["method"] in route.get("methods", [row["method"]]), row
    listing = next(r for r in table["routes"] if r.get("pattern") == LISTING)
    assert listing["methods"] == ["GET", "HEAD"]
    text = (adopted.out / "routes.yaml").read_text()
    assert f"# {LISTING} -> wagtail.api.v2.views.PagesAPIViewSet" in text


def test_rerunning_adopt_keeps_an_edited_table_unless_forced(adopted):
    routes = adopted.out / "routes.yaml"
    edited = routes.read_text() + "# edited by an operator\n"
    routes.write_text(edited)
    again = adopted.cli(
        "adopt", "--settings", SETTINGS, "--monolith", adopted.site.url, "--out", "strangler/",
        check=False,
    )  # fmt: skip
    assert again.returncode == 2 and "pass --force" in again.stderr
    assert "Traceback" not in again.stderr
    assert routes.read_text() == edited


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--settings", "mysite.settings.nope"], "No module named 'mysite.settings.nope'"),
        (["--monolith", "127.0.0.1:8000"], "is not an http(s)://host:port address"),
        (["--monolith", "http://127.0.0.1:8000/shop/"], "without a path"),
    ],
)
def test_adopt_says_what_is_wrong_without_a_traceback(adopted, tmp_path, args, message):
    given = {"--settings": SETTINGS, "--monolith": adopted.site.url}
    given.update(dict(zip(args[::2], args[1::2], strict=True)))
    flags = [x for pair in given.items() for x in pair]
    done = adopted.cli("adopt", *flags, "--out", str(tmp_path / "out"), check=False)
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.found.append(value)


def _same_origin_links(base: str, page: str, body: bytes) -> list[str]:
    parser = _Links()
    parser.feed(body.decode(errors="replace"))
    out = []
    for link in parser.found:
        url = urlsplit(urljoin(base + page, link))
        if url.netloc == urlsplit(base).netloc and "logout" not in url.path:
            out.append(url.path + (f"?{url.query}" if url.query else ""))
    return out


def _masked(body: bytes, origin: str) -> bytes:
    return CSRF_TOKEN.sub(rb"\1CSRF", body).replace(origin.encode(), b"ORIGIN")


def test_a_crawl_through_the_proxy_answers_byte_for_byte_what_the_site_answers(adopted):
    direct, proxied = requests.Session(), requests.Session()
    start = ["/", *(f"/{t.lower()}/" for t in PAGES), "/search/?query=about", LISTING,
             "/admin/login/", "/django-admin/login/", "/no-such-page/"]  # fmt: skip
    queue, seen, compared = list(start), set(), 0
    while queue and compared < CRAWL_LIMIT:
        page = queue.pop(0)
        if page in seen:
            continue
        seen.add(page)
        mine = direct.get(adopted.site.url + page, allow_redirects=False, timeout=30)
        theirs = proxied.get(adopted.proxy + page, allow_redirects=False, timeout=30)
        assert theirs.status_code == mine.status_code, page
        for header in ("Content-Type", "Location", "Content-Disposition"):
            assert theirs.headers.get(header) == mine.headers.get(header), (page, header)
        assert _masked(theirs.content, adopted.proxy) == _masked(mine.content, adopted.site.url), (
            page
        )
        compared += 1
        if "html" in mine.headers.get("Content-Type", ""):
            queue += _same_origin_links(adopted.site.url, page, mine.content)
    assert compared >= 20, seen  # pages, their static files, the admin logins, the API


@pytest.fixture(scope="module")
def pages_service(adopted) -> Iterator[str]:
    folder = adopted.site.folder / "pages_service"
    folder.mkdir()
    (folder / "pages_service.py").write_text((DATA / "pages_service.py").read_text())
    python = str(adopted.site.python)
    done = subprocess.run(
        [python, "pages_service.py", "backfill", adopted.site.url, EXPORT_TOKEN],
        cwd=folder, env=foreign_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"backfilled {len(PAGES) + 1} pages"  # home and its children
    port = free_port()
    server = subprocess.Popen(
        [str(adopted.site.venv / "bin" / "gunicorn"), "pages_service:application",
         f"--bind=127.0.0.1:{port}", "--workers=1"],
        cwd=folder, env=foreign_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}{LISTING}", process=server)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(server)


def _stage(adopted: Adopted, route: str) -> str:
    rows = json.loads(adopted.cli("lifecycle", "status", "--json").stdout)
    return next(r["stage"] for r in rows if r["route"] == route)


def test_the_page_listing_moves_to_an_extracted_service_shadow_then_canary(adopted, pages_service):
    # given: the extracted service as the listing's candidate, gates on its route
    route = add_candidate(adopted.out, pages_service)
    wait_for(
        lambda: adopted.cli("routes", "show", route).stdout.count("upstream: pages") == 1,
        timeout=60,
        what="the proxy's table names the candidate",
    )
    assert adopted.cli("lifecycle", "promote", route).stdout.strip().endswith("-> shadow")
    wait_for(lambda: _stage(adopted, route) == "shadow", timeout=60, what="shadow")
    # the gates refuse the canary while there is no evidence
    early = adopted.cli("lifecycle", "promote", route, check=False)
    assert early.returncode == 1 and "requests" in early.stdout, early.stdout
    # when: clients read the listing; every answer is the site's, each one compared
    direct = requests.get(adopted.site.url + LISTING, timeout=30).json()
    for _ in range(8):
        answer = requests.get(adopted.proxy + LISTING, timeout=30)
        assert answer.json() == direct and "X-Served-By" not in answer.headers
    assert len(direct["items"]) == len(PAGES) + 1
    wait_for(
        lambda: _evidence(adopted, route)["requests"] >= 8,
        timeout=60,
        what="the shadow comparisons counted",
    )
    assert _evidence(adopted, route)["mismatch_rate"] == 0, _differences(adopted)
    # then: the gates hold and the route goes to canary
    promoted = adopted.cli("lifecycle", "promote", route)
    assert promoted.stdout.strip().endswith("-> canary:50"), promoted.stdout
    wait_for(
        lambda: "canary" in adopted.cli("routes", "show", route).stdout, timeout=60, what="canary"
    )
    wait_for(
        lambda: "pages-service" in [_served_by(adopted, n) for n in range(10)],
        timeout=60,
        what="the proxy on the canary table",
    )
    sides = [_served_by(adopted, n) for n in range(40)]
    assert 5 < sides.count("pages-service") < 35, sides  # each client stays on its side
    assert sides == [_served_by(adopted, n) for n in range(40)]


def _differences(adopted: Adopted) -> list:
    token = adopted.env["STRANGLER_ADMIN_TOKEN"]
    shadow = requests.get(
        f"{adopted.proxy}/_strangler/shadow",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    return shadow.json()["recent_differences"]


def _evidence(adopted: Adopted, route: str) -> dict:
    rows = json.loads(adopted.cli("lifecycle", "status", "--json").stdout)
    return next(r["evidence"] for r in rows if r["route"] == route)


def _served_by(adopted: Adopted, client: int) -> str:
    """Who answered the listing for one client (its session cookie is its canary key)."""
    answer = requests.get(
        adopted.proxy + LISTING, headers={"Cookie": f"sessionid=client-{client}"}, timeout=30
    )
    assert answer.status_code == 200
    assert answer.json() == requests.get(adopted.site.url + LISTING, timeout=30).json()
    return answer.headers.get("X-Served-By", "site")


RETITLE = """
from wagtail.models import Page
from mysite.services import page_retitle
page_retitle(page=Page.objects.get(slug="about").specific, title="About us")
"""
REDELIVER = """
from django.utils import timezone
from servicekit.events.outbox.models import OutboxMessage
print(OutboxMessage.objects.update(status="pending", sent_at=None, next_attempt_at=timezone.now()))
"""
SENT = """
from servicekit.events.outbox.models import OutboxMessage
print(sorted(set(OutboxMessage.objects.values_list("status", flat=True))))
"""


def _background(command: list[str], cwd: Path, log: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=cwd, env=foreign_env(**env), stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def test_an_outbox_event_from_the_sites_model_reaches_the_service_exactly_once(
    adopted, pages_service
):
    site, folder = adopted.site, adopted.site.folder / "pages_service"
    settings = {"DJANGO_SETTINGS_MODULE": SETTINGS}
    relay = _background(
        [str(site.python), "manage.py", "outbox_relay"], site.folder, site.folder / "relay.log",
        **settings,
    )  # fmt: skip
    consumer = _background(
        [str(site.python), "pages_service.py", "consume"], folder, folder / "consume.log"
    )
    applied = folder / "applied.log"
    try:
        # when: the site's own service changes a page (one outbox_record call added to it)
        site.run("manage.py", "shell", "-v", "0", "-c", RETITLE, **settings)
        wait_for(applied.exists, timeout=30, what=f"the event applied ({folder / 'consume.log'})")
        (line,) = applied.read_text().splitlines()
        assert line.endswith(" retitled") and ":home.HomePage:" not in line
        listing = requests.get(pages_service + LISTING, timeout=60).json()
        assert "About us" in [item["title"] for item in listing["items"]]
        # and: the relay publishes it again (as after a crash before it marked it sent)
        assert site.run("manage.py", "shell", "-v", "0", "-c", REDELIVER, **settings).strip() == "1"
        wait_for(
            lambda: (
                site.run("manage.py", "shell", "-v", "0", "-c", SENT, **settings).strip()
                == "['sent']"
            ),
            timeout=30,
            what="the redelivery published",
        )
        queue = site.folder / "events" / "broker" / "queue"
        wait_for(lambda: not any(queue.iterdir()), timeout=30, what="the redelivery consumed")
        # then: applied once
        assert applied.read_text().splitlines() == [line]
    finally:
        stop_process(relay)
        stop_process(consumer)
