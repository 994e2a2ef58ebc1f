"""docker-compose.yml for real: podman builds the images here and runs the whole fleet, under the
mTLS switch (`STRANGLER_MTLS=on docker compose up`, docs/mtls.md; conftest.py says why on).

The walk goes through the composed edge: storefront, login, an order and its notification, a
route flipped to the catalog service and back, the catalog takeover; every hop behind the edge
over mTLS. Inside the compose network a plain call to a service is refused, as is TLS without a
client certificate, and a call presenting one the fleet's CA signed is served.
"""

from __future__ import annotations

import json

import pytest
import urllib3

from deploy.podman.smoke import Walk

pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]

# Run in the proxy's container: the catalog by its compose name, plain, over TLS with no client
# certificate, and over TLS with the proxy's certificate. Prints what each got.
INSIDE_PROBE = """
import json, ssl, urllib.request
from servicekit.web.tls import ca_cert_path, client_context
def ask(url, context=None):
    try:
        with urllib.request.urlopen(url, context=context, timeout=15) as answer:
            return answer.status
    except Exception as error:
        return type(error).__name__
print(json.dumps({
    "plain": ask("http://catalog:8002/healthz"),
    "tls, no certificate": ask(
        "https://catalog:8002/healthz", ssl.create_default_context(cafile=str(ca_cert_path()))
    ),
    "tls, the proxy's certificate": ask("https://catalog:8002/healthz", client_context("proxy")),
}))
"""


def test_the_smoke_walk_passes_through_the_composed_proxy(fleet):
    seen = Walk(fleet).run()
    print("\n".join(seen))
    assert len(seen) == 6


def test_under_mtls_a_plain_call_inside_the_network_is_refused_and_the_proxied_call_served(fleet):
    if not fleet.mtls:
        pytest.skip("STRANGLER_CONTAINERS_MTLS=off ran the fleet with the switch off")
    # when: inside the compose network, the catalog is asked by its name
    probe = fleet.exec("proxy", "python", "-c", INSIDE_PROBE)
    got = json.loads(probe.stdout.strip().splitlines()[-1])
    # then: only a caller presenting a certificate of the fleet's CA is served
    assert got["tls, the proxy's certificate"] == 200, got
    assert got["plain"] != 200 and got["tls, no certificate"] != 200, got
    # and the same from the host, on the catalog's published port, plain
    with pytest.raises(urllib3.exceptions.HTTPError):
        urllib3.PoolManager(retries=False).request(
            "GET", fleet.urls["catalog"] + "/healthz", timeout=15
        )
    # while the edge serves the proxied reads, from the catalog service and from the monolith,
    # each reached over mTLS
    assert "flipped to the catalog service and back" in Walk(fleet).route_flip()


def test_every_procfile_process_ran_in_its_own_container(fleet):
    containers = fleet.containers()
    processes = [n for n, s in fleet.compose["services"].items() if s.get("restart") != "no"]
    assert processes and all(containers[n]["State"] == "running" for n in processes), {
        n: containers.get(n, {}).get("State") for n in processes
    }
    one_shots = [n for n, s in fleet.compose["services"].items() if s.get("restart") == "no"]
    assert {"monolith-migrate", "monolith-seed"} <= set(one_shots)
    assert all(containers[n]["ExitCode"] == 0 for n in one_shots)
