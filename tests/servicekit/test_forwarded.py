import pytest


@pytest.mark.django_db
def test_a_chain_of_forwarded_hosts_uses_the_one_our_proxy_added(client):
    # the storefront's login page builds absolute URLs from the host: it must not be a 400
    response = client.get("/accounts/login/", HTTP_X_FORWARDED_HOST="evil.example, localhost")
    assert response.status_code == 200


@pytest.mark.django_db
def test_an_untrusted_host_is_still_refused(client):
    response = client.get("/accounts/login/", HTTP_X_FORWARDED_HOST="localhost, evil.example")
    assert response.status_code == 400
