"""Lifecycle decisions as pure functions: stages, evidence from counter increases, gates."""

from __future__ import annotations

import pytest

from strangler_proxy import lifecycle as lc
from strangler_proxy.routes import Route, RouteTableError, parse_table

GATES = lc.Gates(
    min_requests=100,
    max_mismatch_rate=0.01,
    max_error_rate=0.02,
    max_p99_ms=300,
    window_seconds=60,
    rollback_min_requests=10,
)
AUTO = lc.Lifecycle(gates=GATES, canary_steps=(5, 50), auto=True)


def _canary_window(ok: int, failed: int, fallbacks: int = 0, slow: int = 0) -> lc.Snapshot:
    fast = ok + failed - slow
    return {
        "req|r|svc|200": ok,
        "req|r|svc|500": failed,
        "req|r|monolith|200": 1000 + fallbacks,
        "fb|r|svc": fallbacks,
        "lat|r|svc|0.1": fast,
        "lat|r|svc|1.0": ok + failed,
        "lat|r|svc|+Inf": ok + failed,
    }


def _evidence(window: lc.Snapshot, stage: str) -> lc.Evidence:
    return lc.evidence_for(
        window, route="r", stage=S(stage), candidate="svc", primary="monolith", window_seconds=60
    )


def S(text: str) -> lc.Stage:
    return lc.Stage.parse(text)


def test_stages_run_monolith_shadow_canary_steps_extracted_retired():
    stages = [S("monolith")]
    while (nxt := lc.next_stage(stages[-1], (5, 50))) is not None:
        stages.append(nxt)
    assert [str(s) for s in stages] == [
        "monolith",
        "shadow",
        "canary:5",
        "canary:50",
        "extracted",
        "retired",
    ]
    assert stages[2] == lc.Stage(lc.StageKind.CANARY, 5.0)
    assert lc.next_stage(S("canary:20"), (5, 50)) == S("canary:50")  # a hand-set percent moves on


def test_stage_changes_retiring_drops_the_monolith_fallback():
    route = Route(name="r", mode="extracted", upstream="svc", fallback="monolith")
    changes = lc.stage_changes(S("retired"), route=route, default_upstream="monolith")
    assert changes == {"mode": "extracted", "percent": None, "fallback": None}
    assert lc.stage_changes(S("canary:5"), route=route, default_upstream="monolith") == {
        "mode": "canary",
        "percent": 5.0,
    }


def test_canary_evidence_counts_5xx_and_fallbacks_as_errors():
    evidence = _evidence(_canary_window(ok=90, failed=6, fallbacks=4), "canary:5")
    assert evidence.requests == 100
    assert evidence.errors == 10
    assert evidence.error_rate == pytest.approx(0.10)
    assert evidence.mismatch_rate is None  # not measured outside shadow
    assert evidence.primary_requests == 1000


def test_p99_is_interpolated_from_histogram_buckets():
    assert lc.quantile_ms({0.1: 99.0, 1.0: 100.0, float("inf"): 100.0}) == pytest.approx(100.0)
    assert lc.quantile_ms({0.1: 0.0, 1.0: 100.0, float("inf"): 100.0}) == pytest.approx(991.0)
    assert lc.quantile_ms({}) is None


def test_counter_reset_counts_from_zero():
    assert lc.delta({"a": 5.0, "b": 10.0}, {"a": 8.0, "b": 4.0}) == {"a": 5.0, "b": 6.0}


def test_good_canary_is_promoted_to_the_next_step():
    verdict = lc.decide(
        S("canary:5"), AUTO, _evidence(_canary_window(ok=200, failed=1), "canary:5")
    )
    assert (verdict.action, verdict.to_stage) == ("promote", S("canary:50"))


def test_promotion_refused_without_enough_evidence():
    verdict = lc.decide(S("canary:5"), AUTO, _evidence(_canary_window(ok=40, failed=0), "canary:5"))
    assert verdict.action == "hold"
    assert "not enough evidence: 40 candidate requests" in verdict.reasons[0]


def test_slow_candidate_is_held_not_rolled_back():
    verdict = lc.decide(
        S("canary:5"), AUTO, _evidence(_canary_window(ok=200, failed=0, slow=50), "canary:5")
    )
    assert verdict.action == "hold"
    assert any(r.startswith("p99") for r in verdict.reasons)


def test_failing_candidate_is_rolled_back_to_the_monolith():
    verdict = lc.decide(
        S("extracted"), AUTO, _evidence(_canary_window(ok=15, failed=5), "extracted")
    )
    assert (verdict.action, verdict.to_stage) == ("rollback", S("monolith"))
    assert "error rate 0.2500 > 0.02" in verdict.reasons[0]


def test_shadow_mismatches_roll_back_and_block_promotion():
    window = {"cmp|r|match": 180, "cmp|r|mismatch": 20, "slat|r|0.1": 200, "slat|r|+Inf": 200}
    evidence = _evidence(window, "shadow")
    assert evidence.mismatch_rate == pytest.approx(0.10)
    assert lc.decide(S("shadow"), AUTO, evidence).action == "rollback"
    assert lc.promotion_faults(S("shadow"), evidence, GATES) == ["mismatch rate 0.1000 > 0.01"]


def test_without_auto_the_evaluator_only_reports():
    manual = lc.Lifecycle(gates=GATES, canary_steps=(5,), auto=False)
    verdict = lc.decide(
        S("canary:5"), manual, _evidence(_canary_window(ok=500, failed=0), "canary:5")
    )
    assert verdict.action == "hold" and verdict.promotable


def test_retired_route_is_never_rolled_back():
    verdict = lc.decide(S("retired"), AUTO, _evidence(_canary_window(ok=10, failed=90), "retired"))
    assert verdict.action == "hold"
    assert verdict.reasons[0].startswith("ALERT")


def test_monolith_stage_waits_for_an_operator():
    evidence = _evidence({}, "monolith")
    assert lc.decide(S("monolith"), AUTO, evidence).action == "hold"


ROUTES = """
version: 1
upstreams:
  monolith: {instances: ["http://127.0.0.1:9"]}
  svc: {instances: ["http://127.0.0.1:9"]}
routes:
  - name: r
    prefix: /api/
    mode: shadow
    upstream: svc
    lifecycle:
      gates: {min_requests: 10, %s}
      canary_steps: [5, 50]
      auto: true
"""


def test_schema_accepts_lifecycle_gates():
    table = parse_table(ROUTES % "max_p99_ms: 200")
    route = table.route("r")
    assert lc.lifecycle_of(route).gates.max_p99_ms == 200
    assert lc.lifecycle_of(route).canary_steps == (5.0, 50.0)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("max_p99: 200", "routes[0].lifecycle.gates.max_p99: unknown field 'max_p99'"),
        ("max_error_rate: 2", "routes[0].lifecycle.gates.max_error_rate: must be at most 1"),
    ],
)
def test_schema_refuses_bad_gates_with_line_and_field(field, message):
    with pytest.raises(RouteTableError, match=message.replace(".", r"\.").replace("[", r"\[")):
        parse_table(ROUTES % field)


def test_steps_must_rise():
    with pytest.raises(lc.LifecycleError, match="must rise strictly"):
        lc.lifecycle_of(Route(name="r", lifecycle={"canary_steps": [50, 5]}))


@pytest.mark.parametrize("text", ["monolith", "shadow", "canary:5", "canary:12.5", "extracted"])
def test_stage_text_round_trips(text):
    assert str(S(text)) == text
    assert S(text) == S(text) and S("canary:5") != S("canary:50")


def test_a_sensitive_route_is_refused_the_shadow_stage_as_a_lifecycle_error(tmp_path):
    from strangler_proxy.runtime import build_controller

    routes = tmp_path / "routes.yaml"
    routes.write_text(
        ROUTES.replace("mode: shadow", "mode: monolith\n    sensitive: true") % "max_p99_ms: 200"
    )
    controller = build_controller(routes_file=routes, folder=tmp_path, read_snapshot=dict)
    with pytest.raises(lc.LifecycleError, match="a sensitive route is never shadowed"):
        controller.promote("r", by="test")
    assert "mode: monolith" in routes.read_text()


def test_lifecycle_auto_on_lets_the_gates_promote_and_off_hands_it_back(tmp_path, capsys):
    """`lifecycle auto ROUTE on|off` sets and clears the route's `lifecycle.auto`, keeping its
    gates: the evaluator's verdict on the same good canary goes from hold to promote and back."""
    from strangler_proxy.cli import main

    routes = tmp_path / "routes.yaml"
    routes.write_text((ROUTES % "max_p99_ms: 500").replace("      auto: true\n", ""))
    good = _evidence(_canary_window(ok=500, failed=0), "canary:5")

    def verdict() -> lc.Verdict:
        return lc.decide(
            S("canary:5"), lc.lifecycle_of(parse_table(routes.read_text()).route("r")), good
        )

    assert verdict().action == "hold" and "auto is off" in verdict().reasons

    assert main(["lifecycle", "auto", "r", "on", "--file", str(routes)]) == 0
    assert "r: auto=on" in capsys.readouterr().out
    assert verdict().action == "promote"
    assert lc.lifecycle_of(parse_table(routes.read_text()).route("r")).gates.min_requests == 10

    assert main(["lifecycle", "auto", "r", "off", "--file", str(routes)]) == 0
    assert "r: auto=off" in capsys.readouterr().out
    assert verdict().action == "hold"
    assert lc.lifecycle_of(parse_table(routes.read_text()).route("r")).gates.min_requests == 10

    assert main(["lifecycle", "auto", "nowhere", "on", "--file", str(routes)]) == 2
    assert "no route 'nowhere'" in capsys.readouterr().out
