"""The control centre's drift read model, from each service's `/metrics`."""

from strangler_proxy.control.outbox_lag import parse_drift, reconcile_drift


def test_the_control_centre_reads_drift_and_survives_a_service_answering_garbage():
    class Http:
        def request(self, method, url, **kwargs):
            body = {
                "http://a/metrics": b'strangler_reconcile_drift{entity="user",owner="users",'
                b'mirror="monolith"} 2.0\n',
                "http://b/metrics": b'{"not": "prometheus"}',
            }[url]
            return type("R", (), {"status": 200, "data": body})()

    drift = reconcile_drift({"a": "http://a", "b": "http://b"}, http=Http())

    assert drift["a"]["entities"] == {"user": {"drift": 2, "owner": "users", "mirror": "monolith"}}
    assert drift["b"]["error"] == "not Prometheus text"
    assert parse_drift("") == {}
