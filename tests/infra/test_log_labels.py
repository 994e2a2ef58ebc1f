"""Compose's promtail labels lines as our shipper does, so one LogQL query serves both."""

from __future__ import annotations

import yaml

from servicekit.web.log_shipper import JOB, labels_of
from tests.infra.fleet import ROOT


def test_promtail_gives_the_labels_the_log_shipper_gives():
    config = yaml.safe_load((ROOT / "deploy" / "promtail" / "config.yaml").read_text())
    (job,) = config["scrape_configs"]
    relabelled = {r["target_label"]: r for r in job["relabel_configs"]}
    from_lines = set()
    for stage in job["pipeline_stages"]:
        from_lines |= set(stage.get("labels") or {})
    shipper = labels_of("monolith", '{"service": "monolith", "level": "info"}')
    assert set(shipper) <= set(relabelled) | from_lines
    assert relabelled["job"]["replacement"] == JOB
    assert "request_id" not in set(relabelled) | from_lines  # a field, never a label
