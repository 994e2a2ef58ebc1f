"""deploy/prometheus/prometheus.yml: a scrape job per HTTP process of the Procfile."""

from __future__ import annotations

import yaml

from deploy.generate.fleet import ROOT, Service
from servicekit.web.ports import path_of


def prometheus_config(services: dict[str, Service]) -> dict:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    others = [
        j for j in config["scrape_configs"] if j["job_name"] in ("rabbitmq", "otel-collector")
    ]
    jobs = [
        {
            "job_name": p.name,
            "metrics_path": path_of(p.name, "metrics"),
            "static_configs": [{"targets": [f"{p.name}:{p.port}"], "labels": {"process": p.name}}],
        }
        for s in services.values()
        for p in s.processes
        if p.kind == "web"
    ]
    return {**config, "scrape_configs": jobs + others}
