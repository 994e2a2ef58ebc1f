"""benchmarks/bench_proxy.py's issue-16 shares: a target's req/s at 16 connections over plain
nginx's, the two measured interleaved in short slices (ABBA) in each round, so that the load of
the machine's neighbours, which comes and goes over seconds, moves both sides of a ratio alike."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_proxy import (
    _added_text,
    _share_text,
    abba,
    combined,
    paired_added,
    paired_share,
    references,
)


def test_issue_16_s_comparisons_pair_each_target_with_its_reference():
    wanted = ["direct", "proxy-granian-base", "proxy-granian", "nginx", "nginx-plane", "revproxy"]
    # req/s at 16 connections: a share of plain nginx's
    assert references(wanted, 16) == {"proxy-granian": "nginx", "nginx-plane": "nginx"}
    # latency at 1: the proxy's over direct, the plane's over plain nginx
    assert references(wanted, 1) == {"proxy-granian": "direct", "nginx-plane": "nginx"}
    # a reference that is not measured pairs nothing
    assert references(["direct", "proxy-uvicorn", "nginx-plane"], 16) == {}
    assert references(["direct", "proxy-uvicorn", "nginx-plane"], 1) == {"proxy-uvicorn": "direct"}


def test_the_slices_alternate_reference_target_target_reference():
    assert abba(1) == [0, 1]
    assert abba(4) == [0, 1, 1, 0, 0, 1, 1, 0]
    assert abba(3).count(0) == abba(3).count(1) == 3


def test_a_load_that_rises_linearly_costs_both_sides_of_an_abba_pair_alike():
    # each slice is slower than the one before it by the same step
    speed = [1000 - 50 * i for i in range(8)]
    sides: tuple[list, list] = ([], [])
    for i, side in enumerate(abba(4)):
        sides[side].append(speed[i])
    assert sum(sides[0]) == sum(sides[1])


def _slice(rps: float, seconds: float = 2.0, **extra: float) -> dict[str, float]:
    run = {"rps": rps, "requests": rps * seconds, "p50": 1.0, "p99": 2.0, "errors": 0.0}
    return {**run, **extra}


def test_slices_combine_into_requests_over_seconds_and_cpu_over_requests():
    # 1 s at 1000 req/s and 3 s at 3000: 10,000 requests in 4 s, not the mean 2000 req/s
    run = combined(
        [
            _slice(1000, 1, cpu_us=300.0, upstream_cpu_us=400.0, errors=1.0),
            _slice(3000, 3, cpu_us=100.0, upstream_cpu_us=400.0, errors=2.0),
        ]
    )
    assert run["rps"] == pytest.approx(2500)
    assert run["requests"] == pytest.approx(10_000)
    assert run["cpu_us"] == pytest.approx((300 * 1000 + 100 * 9000) / 10_000)
    assert run["upstream_cpu_us"] == pytest.approx(400)
    assert run["errors"] == 3


def _rounds(*pairs: tuple[float, float]) -> list[dict[int, dict[str, float]]]:
    """(target's req/s, nginx's beside it) per round."""
    return [{1: {"rps": 1.0}, 16: {"rps": rps, "reference_rps": ref}} for rps, ref in pairs]


def test_each_round_s_share_is_against_the_nginx_slices_of_the_same_pair():
    # the machine slows from round to round: both sides lose alike
    rounds = {"proxy-granian": _rounds((3000, 4000), (2400, 3200), (1500, 2000))}
    median, each = paired_share(rounds, "proxy-granian")
    assert each == pytest.approx([0.75, 0.75, 0.75])
    assert median == pytest.approx(0.75)


def test_the_median_of_the_ratios_is_not_the_ratio_of_the_medians():
    # the target's median round (2000) and nginx's (2500) are different rounds: 0.8 would pair them
    rounds = {"proxy": _rounds((3000, 4000), (1000, 1500), (2000, 2500))}
    median, each = paired_share(rounds, "proxy")
    assert each == pytest.approx([0.75, 2 / 3, 0.8])
    assert median == pytest.approx(0.75)


def test_the_printed_share_names_each_round_when_there_are_several():
    assert _share_text((0.75, [0.75])) == "75.0 %"
    assert _share_text((0.734, [0.7, 0.734, 0.78])) == "73.4 % (rounds: 70.0, 73.4, 78.0)"


def test_the_added_latency_is_each_round_s_difference_to_the_reference_beside_it():
    rounds = {
        "proxy-uvicorn": [
            {1: {"p50": p50, "reference_p50": ref}, 16: {}}
            for p50, ref in ((1.30, 1.00), (0.90, 0.60), (2.00, 1.50))
        ]
    }
    median, each = paired_added(rounds, "proxy-uvicorn")
    assert each == pytest.approx([0.30, 0.30, 0.50])
    assert median == pytest.approx(0.30)
    assert _added_text((0.3, [0.3])) == "+0.30 ms"
    assert _added_text((0.3, [0.3, 0.3, 0.5])) == "+0.30 ms (rounds: +0.30, +0.30, +0.50)"
