"""deploy/podman/compose.py: what podman runs here is docker-compose.yml with local images."""

from __future__ import annotations

import pytest

from deploy.podman import compose as podman_compose
from deploy.podman.engine import APP_IMAGE, BACKING_IMAGES


@pytest.fixture(scope="module")
def main() -> dict:
    return podman_compose.load(podman_compose.MAIN)


@pytest.fixture(scope="module")
def local(main) -> dict:
    return podman_compose.local_compose(
        main, podman_compose.load(podman_compose.LOCAL), {8000: 18000, 8001: 18001}
    )


def test_every_app_container_runs_as_in_docker_compose_yml_on_the_local_image(main, local):
    app = {n: s for n, s in main["services"].items() if "build" in s}
    assert app and set(app) <= set(local["services"])
    for name, service in app.items():
        ran = local["services"][name]
        assert ran["image"] == APP_IMAGE and "build" not in ran
        assert ran["command"] == service["command"]
        assert ran.get("depends_on") == service.get("depends_on"), name
        changed = {
            k for k in service["environment"] if ran["environment"][k] != service["environment"][k]
        }
        assert changed <= {"OTEL_EXPORTER_OTLP_ENDPOINT"}, (name, changed)


def test_backing_servers_take_images_built_here_and_registry_only_ones_are_left_out(local):
    services = local["services"]
    for name, image in BACKING_IMAGES.items():
        assert services[name]["image"] == image
    assert all(s["image"].startswith("localhost/") for s in services.values())
    for service in services.values():
        assert set(service.get("depends_on") or {}) <= set(services)
        for volume in service.get("volumes", []):
            assert not volume.startswith("./"), volume


def test_published_ports_move_to_the_given_host_ports(local):
    assert local["services"]["edge"]["ports"] == ["18000:8000"]  # nginx, the proxy behind it
    assert "ports" not in local["services"]["proxy"]
    assert local["services"]["monolith"]["ports"] == ["18001:8001"]
    assert "ports" not in local["services"]["rabbitmq"]


def test_the_start_stages_put_migrations_and_the_seed_before_the_processes(local):
    staged = podman_compose.stages(local, APP_IMAGE)
    assert set(staged.backing) == set(BACKING_IMAGES)
    assert "monolith-migrate" in staged.migrate
    assert sorted(staged.seed) == ["certificates", "monolith-seed"]
    assert "proxy" in staged.processes and "monolith-relay" in staged.processes
    everything = staged.backing + staged.migrate + staged.seed + staged.processes
    assert sorted(everything) == sorted(local["services"])


def test_the_dockerfile_base_stays_the_official_image_for_users_elsewhere():
    text = (podman_compose.ROOT / "Dockerfile").read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
