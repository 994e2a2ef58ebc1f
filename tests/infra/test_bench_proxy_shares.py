"""benchmarks/bench_proxy.py's issue-16 shares: a target's req/s over plain nginx's, paired
round by round, so that a load that drifts over a run does not pair one target's quiet round
with the other's busy one."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from bench_proxy import _share_text, paired_share


def _rounds(*rps: float) -> list[dict[int, dict[str, float]]]:
    return [{1: {"rps": 1.0}, 16: {"rps": value}} for value in rps]


def test_each_round_is_paired_with_the_same_round_of_the_reference():
    # the machine slows over the run: both targets lose alike, round by round
    rounds = {"proxy": _rounds(3000, 2400, 1500), "nginx": _rounds(4000, 3200, 2000)}
    median, each = paired_share(rounds, "proxy", "nginx")
    assert each == pytest.approx([0.75, 0.75, 0.75])
    assert median == pytest.approx(0.75)


def test_the_median_of_the_ratios_is_not_the_ratio_of_the_medians():
    # the proxy's median round (2000) and nginx's (2500) are different rounds: 0.8 would pair them
    rounds = {"proxy": _rounds(3000, 1000, 2000), "nginx": _rounds(4000, 1500, 2500)}
    median, each = paired_share(rounds, "proxy", "nginx")
    assert each == pytest.approx([0.75, 2 / 3, 0.8])
    assert median == pytest.approx(0.75)


def test_rounds_that_do_not_pair_are_refused():
    with pytest.raises(ValueError):
        paired_share({"proxy": _rounds(1, 2), "nginx": _rounds(1)}, "proxy", "nginx")


def test_the_printed_share_names_each_round_when_there_are_several():
    assert _share_text((0.75, [0.75])) == "75.0 %"
    assert _share_text((0.734, [0.7, 0.734, 0.78])) == "73.4 % (rounds: 70.0, 73.4, 78.0)"
