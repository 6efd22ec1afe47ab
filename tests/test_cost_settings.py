"""The cost settings under `budget`: what the estimate cannot see, each refused in one line."""

from __future__ import annotations

from typing import Any

import pytest

from inferstack.cost import assumptions_of, tokens
from inferstack.cost import estimate_graph as estimate_graph_of
from inferstack.report import settings_of
from infra.settings import parse_settings
from tests.conftest import planned
from tests.test_settings import SOURCE, broken, raw


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("spotDiscount", 1.2, "inferstack:budget.spotDiscount: 1.2 is out of range; allowed: < 1.0"),
        ("spotDiscount", -0.1, "inferstack:budget.spotDiscount: -0.1 is out of range; allowed: >= 0.0"),
        ("commitmentDiscount", 1, "inferstack:budget.commitmentDiscount: 1 is out of range; allowed: < 1.0"),
        (
            "offPeakHoursPerMonth",
            800,
            "inferstack:budget.offPeakHoursPerMonth: 800 is out of range; allowed: <= 730",
        ),
        (
            "throughput",
            {"L5": 100},
            "inferstack:budget.throughput.L5: not an accelerator; allowed: A100-40GB",
        ),
        (
            "throughput",
            {"L4": 0},
            "inferstack:budget.throughput.L4: 0.0 tokens per second; allowed: a number > 0",
        ),
    ],
)
def test_a_bad_cost_setting_is_refused_in_one_line(key: str, value: Any, expected: str) -> None:
    def change(values: dict[str, Any]) -> None:
        values["budget"][key] = value

    assert expected in broken("dev", change)


def test_stated_assumptions_reach_the_estimate() -> None:
    values = raw("prod")
    values["budget"].update(spotDiscount=0.7, commitmentDiscount=0.2, offPeakHoursPerMonth=200)
    settings = parse_settings(values, SOURCE)
    stated = assumptions_of(settings)
    assert (stated.spot_discount, stated.commitment_discount, stated.off_peak_hours) == (0.7, 0.2, 200)
    plain = estimate_graph_of(planned("prod"), None)
    result = estimate_graph_of(planned("prod"), settings)
    # The core H200 pools run 1 node (their minimum) at desired scale: nothing to put to sleep.
    tiers = {row["tier"].split(" (")[0]: row for row in result.tiers()}
    assert tiers["auto-sleep"]["savingUsd"] == 0
    # 20% off on-demand and reserved compute: every pool but the spot ones.
    on_demand = sum(
        float(i.monthly["desired"]) for i in result.priced() if i.pool and i.pool.capacity != "spot"
    )
    assert float(result.total()) == pytest.approx(float(plain.total()) - 0.2 * on_demand, abs=0.01)
    assert tiers["commitment discount"]["savingUsd"] == pytest.approx(0.2 * on_demand, abs=0.01)
    # Spot at max is cheaper with the deeper stated discount (AWS spot has no observed row).
    spot = "core-use1-h200-spot"
    assert (
        next(i for i in result.priced() if i.name == spot).monthly["max"]
        < next(i for i in plain.priced() if i.name == spot).monthly["max"]
    )


def test_dollars_per_million_tokens_follow_the_benchmark_row() -> None:
    graph = planned("prod")
    report = tokens(estimate_graph_of(graph, settings_of(graph)), settings_of(graph))
    floor = report["scenarios"][0]
    # Two core p5en.48xlarge at their floor of 1 node: 2 x 46,369.92 USD a month, 2 x 2621.05 tok/s.
    assert floor["monthlyUsd"] == 92739.84 and floor["outputTokensPerSecond"] == 5242.1
    assert floor["usdPerMillionOutput"] == round(92739.84 / (5242.1 * 730 * 3600) * 1e6, 4)
    assert report["api"]["outputUsdPerMillion"] == 0.42 and report["api"]["asOf"]
    assert report["withoutThroughput"] == []  # every prod pool has a benchmark row
    dev = planned("dev")
    dev_report = tokens(estimate_graph_of(dev, settings_of(dev)), settings_of(dev))
    assert dev_report["withoutThroughput"] == ["core-use1-l4 (L4)", "burst-usc1-l4-spot (L4)"]


def test_a_stated_throughput_gives_a_figure_where_no_benchmark_exists() -> None:
    values = raw("dev")
    settings = parse_settings(values, SOURCE)
    graph = planned("dev")
    assert tokens(estimate_graph_of(graph, settings), settings)["scenarios"][0]["usdPerMillionOutput"] is None
    values["budget"]["throughput"] = {"L4": 1000}
    stated = parse_settings(values, SOURCE)
    report = tokens(estimate_graph_of(graph, stated), stated)
    # One g6.xlarge at its floor: 603.50 USD a month (0.8048 x 730 + 200 GiB gp3 x 0.08), 1000 tok/s.
    assert report["scenarios"][0]["usdPerMillionOutput"] == round(603.50 / (1000 * 730 * 3600) * 1e6, 4)
    assert {row["from"] for row in report["throughput"]} == {"stated in budget.throughput"}
