"""Launch workflow core: every rule against a hand-computed example."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics import launch as core


def test_launch_requests_new_and_monitoring_window():
    campaigns = pd.DataFrame(
        {
            "campaign_id": ["OLD", "LIVE", "SOON", "NEW_OLD", "bad\nkey", "NODATE"],
            "start_date": [
                date(2024, 1, 1),
                date(2024, 3, 1),
                date(2024, 5, 1),
                date(2023, 1, 1),
                date(2024, 3, 1),
                None,
            ],
        }
    )
    got = core.launch_requests(campaigns, {"OLD", "LIVE"}, date(2024, 3, 31), 42)
    assert got.new_ids == ["NEW_OLD", "NODATE", "SOON"]
    # OLD ended its 42 days on 2024-02-11; NEW_OLD gets a partition but no run
    assert got.run_ids == ["LIVE", "NODATE", "SOON"]
    assert got.invalid_ids == ["bad\nkey"]
    # the day the window closes: start + 42 days is no longer monitored
    edge = core.launch_requests(campaigns.iloc[[1]], set(), date(2024, 4, 12), 42)
    assert edge.run_ids == []


def _history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign_id": ["A", "B", "C", "D", "SELF"],
            "channel": ["paid_search"] * 3 + ["display", "paid_search"],
            "campaign_type": ["launch", "launch", "flash", "brand", "launch"],
            "spend": [1000.0, 3000.0, 500.0, 800.0, 10.0],
            "impressions": [100000, 200000, 10000, 90000, 1],
            "clicks": [2000, 3000, 100, 90, 1],
            "leads": [20.0, 30.0, 5.0, 2.0, 1.0],
            "attributed_revenue": [3000.0, 6000.0, 0.0, 100.0, 1e9],
        }
    )


def test_peer_benchmark_pools_and_widens():
    h = _history()
    b = core.peer_benchmark(h, "SELF", "paid_search", "launch", min_peers=2)
    assert (b.scope, b.n_peers) == ("channel_type", 2)
    assert b.values["ctr"] == pytest.approx(5000 / 300000)
    assert b.values["cvr"] == pytest.approx(50 / 5000)
    assert b.values["cpa"] == pytest.approx(4000 / 50)
    assert b.values["roas"] == pytest.approx(9000 / 4000)
    assert b.values["revenue_per_lead"] == pytest.approx(9000 / 50)
    wider = core.peer_benchmark(h, "SELF", "paid_search", "launch", min_peers=3)
    assert (wider.scope, wider.n_peers) == ("channel", 3)
    assert wider.values["cpa"] == pytest.approx(4500 / 55)
    everyone = core.peer_benchmark(h, "SELF", "video", "launch", min_peers=3)
    assert (everyone.scope, everyone.n_peers) == ("all", 4)
    none = core.peer_benchmark(h.iloc[0:0], "SELF", "video", "launch")
    assert none.scope == "none" and math.isnan(none.values["cpa"])


def test_targets_come_from_brief_else_benchmark():
    b = core.Benchmark("channel", 3, {"ctr": 0.02, "cvr": 0.05, "cpa": np.nan, "roas": 2.0})
    t = core.resolve_targets({"target_cpa": 80.0, "target_roas": None, "target_ctr": 0}, b)
    got = t.set_index("metric")
    assert got.loc["cpa", "target"] == 80.0 and got.loc["cpa", "target_source"] == "brief"
    assert got.loc["roas", "target"] == 2.0
    assert got.loc["roas", "target_source"] == "benchmark (channel)"
    assert got.loc["ctr", "target"] == 0.02  # a 0 target is "not set"
    brief_only = core.resolve_targets({}, core.Benchmark("none", 0, {}))
    assert (brief_only["target_source"] == "missing").all()


@pytest.mark.parametrize(
    ("first", "last", "role"),
    [
        (0.6, 0.3, "awareness"),
        (0.2, 0.4, "conversion"),
        (0.33, 0.3, "balanced"),
        (np.nan, 0.3, "unknown"),
        (0.1, 0.0, "awareness"),
    ],
)
def test_channel_role(first, last, role):
    assert core.channel_role(first, last, 0.2) == role


def test_pacing_schedule_even_in_weeks_from_start():
    # 2024-03-06 to 2024-03-21: 16 days, 1600 -> 100 a day, weeks of 7 days from the start
    s = core.pacing_schedule(1600.0, date(2024, 3, 6), date(2024, 3, 21))
    assert s["week_start"].tolist() == [date(2024, 3, 6), date(2024, 3, 13), date(2024, 3, 20)]
    assert s["week_number"].tolist() == [1, 2, 3]
    assert s["days_active"].tolist() == [7, 7, 2]
    assert s["planned_spend"].tolist() == pytest.approx([700.0, 700.0, 200.0])
    assert s["cumulative_planned_spend"].iloc[-1] == pytest.approx(1600.0)
    # always-on: 365-day life, first 14 days only
    ao = core.pacing_schedule(3650.0, date(2024, 3, 4), None, horizon_days=14)
    assert ao["planned_spend"].sum() == pytest.approx(140.0)


def _targets(**kw) -> pd.DataFrame:
    b = core.Benchmark("channel", 3, {"ctr": 0.02, "cvr": 0.05, "cpa": 80.0, "roas": 2.0})
    return core.resolve_targets(kw, b)


BRIEF = dict(
    campaign_type="launch",
    planned_budget=1000.0,
    start_date=date(2024, 3, 1),
    end_date=date(2024, 4, 1),
    utm_campaign="x",
)


def test_readiness_passes_and_fails():
    ok = core.readiness(BRIEF, _targets(), touches_seen=5, spend_so_far=100.0)
    assert ok == []
    pre_launch = core.readiness(BRIEF, _targets(), touches_seen=0, spend_so_far=0.0)
    assert pre_launch == []
    bad = core.readiness(
        {**BRIEF, "campaign_type": "webinar", "planned_budget": 0, "end_date": None},
        core.resolve_targets({}, core.Benchmark("none", 0, {})),
        touches_seen=0,
        spend_so_far=0.0,
    )
    assert len(bad) == 4  # type, budget, end date, targets
    dark = core.readiness(BRIEF, _targets(), touches_seen=0, spend_so_far=250.0)
    assert len(dark) == 1 and "not seen" in dark[0]
    no_utm = core.readiness(
        {**BRIEF, "utm_campaign": " "}, _targets(), touches_seen=0, spend_so_far=0
    )
    assert "utm_campaign missing" in no_utm[0]
    shared = core.readiness(
        BRIEF, _targets(), touches_seen=3, spend_so_far=1, utm_shared_with=["C9"]
    )
    assert "also used by C9" in shared[0]


def test_tracking_check_flags_spend_weeks_without_touches():
    weekly = pd.DataFrame(
        {"week_number": [1, 2, 3], "spend": [700.0, 700.0, 0.0], "touches": [20, 0, 0]}
    )
    ok, detail = core.tracking_check(weekly)
    assert not ok and "week 2 (700.00)" in detail and "week 3" not in detail
    ok2, _ = core.tracking_check(weekly.assign(touches=[20, 1, 0]))
    assert ok2
    assert core.tracking_check(weekly.assign(spend=0.0))[0]


def test_schedule_check():
    start = date(2024, 3, 4)
    assert core.schedule_check(start, None, date(2024, 3, 1))[0]  # not started
    assert core.schedule_check(start, None, date(2024, 3, 6))[0]  # still within grace
    assert not core.schedule_check(start, None, date(2024, 3, 7))[0]
    assert core.schedule_check(start, date(2024, 3, 6), date(2024, 3, 31))[0]
    late = core.schedule_check(start, date(2024, 3, 7), date(2024, 3, 31))
    assert not late[0] and "3 days late" in late[1]


def test_performance_30_percent_under_target_fails_20_percent_passes():
    targets = {"ctr": 0.02, "cvr": 0.05, "cpa": 50.0, "roas": np.nan}
    under = core.performance_vs_targets({"ctr": 0.014, "cvr": 0.05, "cpa": 50.0}, targets, 0.2)
    row = under.set_index("metric").loc["ctr"]
    assert row["attainment"] == pytest.approx(0.7) and not row["within"]
    assert "roas" not in under["metric"].tolist()  # no target, not judged
    edge = core.performance_vs_targets({"ctr": 0.016, "cvr": 0.04, "cpa": 60.0}, targets, 0.2)
    assert edge["within"].all()  # exactly 20% off is still within
    cpa = core.performance_vs_targets({"cpa": 65.0}, {"cpa": 50.0}, 0.2).iloc[0]
    assert not cpa["within"] and cpa["attainment"] == pytest.approx(50 / 65)
    none = core.performance_vs_targets({"cpa": math.inf}, {"cpa": 50.0}, 0.2).iloc[0]
    assert not none["within"] and none["attainment"] == 0.0


def test_early_metrics_projected_roas():
    totals = dict(spend=1000.0, impressions=100000, clicks=1500, leads=20.0, revenue=0.0)
    m = core.early_metrics(totals, revenue_per_lead=150.0)
    assert m["ctr"] == pytest.approx(0.015)
    assert m["cvr"] == pytest.approx(20 / 1500)
    assert m["cpa"] == pytest.approx(50.0)
    assert m["roas"] == pytest.approx(3.0)
    assert m["actual_roas"] == 0.0
    assert math.isinf(core.early_metrics({**totals, "leads": 0.0}, 150.0)["cpa"])


def test_mql_expectation_volume_and_quality():
    # spend 1400 / CPA 50 = 28 leads x 0.4 = 11.2 expected MQLs
    good = core.mql_expectation(1400.0, 50.0, 0.4, 10.0, 0.30, 0.32, 0.2)
    assert good.expected_mqls == pytest.approx(11.2)
    assert good.volume_ratio == pytest.approx(10 / 11.2) and good.passed
    short = core.mql_expectation(1400.0, 50.0, 0.4, 8.0, np.nan, np.nan, 0.2)
    assert not short.passed and "not evaluable" in short.detail
    low_quality = core.mql_expectation(1400.0, 50.0, 0.4, 12.0, 0.2, 0.3, 0.2)
    assert not low_quality.passed and low_quality.quality_ratio == pytest.approx(2 / 3)


def _perf(**attain) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"metric": m, "actual": a, "target": 1.0, "attainment": a, "within": a >= 0.8}
            for m, a in attain.items()
        ]
    )


TOTALS = dict(spend=2800.0, leads=56.0, touches=56.0)
START = date(2024, 3, 4)


def test_week4_decision():
    ok_mql = core.MqlExpectation(10, 12, 1.2, np.nan, np.nan, np.nan, True, "fine")
    assert (
        core.week4_decision(20, START, True, _perf(cpa=1.2), ok_mql, TOTALS, 50.0)[0] == "pending"
    )
    d, why = core.week4_decision(
        28, START, True, _perf(cpa=1.2, ctr=1.0, roas=1.5), ok_mql, TOTALS, 50.0
    )
    assert d == "scale" and "CPA" in why
    d, why = core.week4_decision(28, START, False, _perf(cpa=1.2), ok_mql, TOTALS, 50.0)
    assert d == "pause" and "tracking" in why
    d, why = core.week4_decision(28, START, True, _perf(cpa=0.5, ctr=1.0), ok_mql, TOTALS, 50.0)
    assert d == "pause" and "50% of target" in why
    d, why = core.week4_decision(28, START, True, _perf(cpa=1.1, ctr=0.7), ok_mql, TOTALS, 50.0)
    assert d == "optimize" and why.startswith("CTR") and "creative" in why
    no_leads = dict(spend=150.0, leads=0.0, touches=9.0)
    d, why = core.week4_decision(28, START, True, _perf(ctr=1.0), ok_mql, no_leads, 50.0)
    assert d == "pause" and "without a single credited lead" in why


def test_cross_channel_targets_neither_pause_nor_scale():
    """A benchmark pooled over other channels (the channel has too few earlier campaigns)
    is shown, but a paid-search CPA does not pause a LinkedIn launch; the campaign's own
    target still does."""
    ok_mql = core.MqlExpectation(10, 12, 1.2, np.nan, np.nan, np.nan, True, "fine")
    perf = _perf(cpa=0.3, roas=0.2, ctr=1.0)
    d, why = core.week4_decision(
        28, START, True, perf, ok_mql, TOTALS, 50.0, indicative=["cpa", "roas", "ctr"]
    )
    assert d == "optimize" and "cross-channel benchmark" in why and why.startswith("ROAS")
    d, why = core.week4_decision(28, START, True, perf, ok_mql, TOTALS, 50.0, indicative=["cpa"])
    assert d == "pause" and why.startswith("ROAS")  # the campaign's own ROAS target
    d, _ = core.week4_decision(
        28, START, True, _perf(cpa=0.3, ctr=1.0), ok_mql, TOTALS, 50.0, indicative=["cpa"]
    )
    assert d == "scale"  # the one decisive target (CTR) is met
    plan = {
        "target_cpa_source": "benchmark (all)",
        "target_roas_source": "brief",
        "target_ctr_source": "benchmark (channel)",
        "target_cvr_source": None,
    }
    assert core.cross_channel_targets(plan) == ["cpa"]


def test_performance_check_value_and_threshold_agree_with_its_verdict():
    """CPA 43.57 against a 35 target fails the CPA rule (at most 1.2 x 35 = 42); its
    attainment 0.803 is then compared with the 1 / 1.2 = 0.833 that rule requires, not with
    the 0.8 of the other metrics, so value, threshold and verdict say the same thing."""
    from gtm_assets.analytics.launch import performance_vs_targets, weakest_attainment

    perf = performance_vs_targets({"cpa": 43.57, "ctr": 0.02}, {"cpa": 35.0, "ctr": 0.02}, 0.2)
    cpa = perf.set_index("metric").loc["cpa"]
    assert not cpa["within"]
    value, threshold = weakest_attainment(perf)
    assert value == pytest.approx(35 / 43.57) and threshold == pytest.approx(1 / 1.2)
    assert value < threshold
    ok = performance_vs_targets({"cpa": 41.0}, {"cpa": 35.0}, 0.2)
    assert bool(ok["within"].iloc[0]) and weakest_attainment(ok)[0] >= weakest_attainment(ok)[1]


def test_an_ended_campaign_is_read_as_of_its_end_by_default():
    from datetime import date

    from gtm_assets.assets.launch import campaign_as_of

    data_day, end = date(2026, 10, 31), date(2026, 9, 6)
    assert campaign_as_of(data_day, end, "") == end
    assert campaign_as_of(data_day, None, "") == data_day  # always on
    assert campaign_as_of(data_day, date(2026, 12, 1), "") == data_day  # still running
    assert campaign_as_of(date(2026, 8, 9), end, "2026-08-09") == date(2026, 8, 9)


def test_mql_check_says_why_it_cannot_judge_volume():
    from gtm_assets.analytics.launch import mql_expectation

    nan = float("nan")
    young = mql_expectation(0.0, 35.0, 0.3, 0.0, nan, nan).detail
    assert "no spend old enough yet" in young and "MQL window" in young
    assert "no CPA target" in mql_expectation(500.0, nan, 0.3, 3.0, nan, nan).detail
    assert "no MQL-rate benchmark" in mql_expectation(500.0, 35.0, nan, 3.0, nan, nan).detail


def test_crm_cross_check_names_a_cpa_the_crm_tag_tells_differently():
    """17,011 spent, CPA target 35: touch credit gives 405 leads (CPA 42.0, over 1.2 x 35),
    the CRM tags 520 (CPA 32.7, within target): the note says so; when both agree (or no
    target), no note."""
    from gtm_assets.analytics.launch import crm_cross_check

    note = crm_cross_check(405.0, 520.0, 17_011.0, 35.0, 0.2)
    assert "The CRM tags 520 leads to this campaign (CPA 32.71, within target)" in note
    assert "405.0 by touch credit (CPA 42.00)" in note
    assert crm_cross_check(405.0, 300.0, 17_011.0, 35.0, 0.2) == ""  # CRM view worse too
    assert crm_cross_check(600.0, 520.0, 17_011.0, 35.0, 0.2) == ""  # touch credit fine
    assert crm_cross_check(405.0, 520.0, 17_011.0, float("nan"), 0.2) == ""


def test_infinite_cpa_is_said_in_words_and_stored_as_null() -> None:
    assert core.describe_actual("cpa", math.inf) == "CPA: spend and no lead yet"
    assert core.describe_actual("cpa", 4539.0) == "CPA 4,539"
    assert math.isnan(core.finite_or_nan(math.inf))
    assert core.finite_or_nan(12.5) == 12.5


def test_budget_pace_flags_a_campaign_spending_twice_its_plan():
    """30,000 over a 42-day flight (Oct 6 - Nov 16) is 714.29 a day; at 1,500 a day,
    day 14 has spent 21,000 against 10,000 planned to date (210%), and the budget runs
    out after 20 days, on Oct 25."""
    start, end = date(2025, 10, 6), date(2025, 11, 16)
    ok, why = core.budget_pace_check(30_000.0, start, end, date(2025, 10, 19), 21_000.0, 0.2)
    assert not ok
    assert why.startswith("spend 21,000.00 by day 14 of 42 vs 10,000.00 planned to date (210%)")
    assert "at 1,500.00 a day the 30,000.00 budget runs out on 2025-10-25" in why
    ok, why = core.budget_pace_check(30_000.0, start, end, date(2025, 10, 19), 11_500.0, 0.2)
    assert ok and "(115%)" in why  # within 20%
    ok, why = core.budget_pace_check(30_000.0, start, end, date(2025, 11, 30), 30_000.0, 0.2)
    assert not ok and "the whole planned budget of 30,000.00 is spent" in why
    assert core.budget_pace_check(np.nan, start, end, date(2025, 10, 19), 9e9, 0.2)[0]


def test_leads_that_do_not_qualify_pause_the_campaign_whatever_their_cpa():
    """Lead quality at 27% of the channel's is a pause even when every cost target is met
    (and when the cost targets are only cross-channel benchmarks)."""
    junk = core.mql_expectation(1400.0, 50.0, 0.4, 12.0, 0.047, 0.175, 0.2)
    totals = dict(spend=41_950.0, leads=701.0, touches=900.0, sqls=4.0)
    for indicative in ([], ["cpa", "roas", "ctr"]):
        d, why = core.week4_decision(
            28,
            START,
            True,
            _perf(cpa=1.9, roas=1.9, ctr=1.0),
            junk,
            totals,
            50.0,
            indicative=indicative,
        )
        assert d == "pause"
        assert why.startswith("leads do not qualify: lead quality 0.047 vs 0.175 for the")
        assert "(27%, below the 60% pause line); 4 SQLs from 701 leads" in why
    # 70% of the channel's quality is an optimize (below the 80% check, above the pause line)
    weak = core.mql_expectation(1400.0, 50.0, 0.4, 12.0, 0.21, 0.3, 0.2)
    d, why = core.week4_decision(28, START, True, _perf(cpa=1.2, ctr=1.0), weak, totals, 50.0)
    assert d == "optimize" and "leads do not qualify: narrow the audience" in why


def test_mql_volume_says_which_leads_it_counts():
    m = core.mql_expectation(
        1400.0, 50.0, 0.4, 10.0, np.nan, np.nan, 0.2, counted_until=(date(2025, 10, 19), 14)
    )
    assert m.detail.startswith(
        "MQLs 10.0 vs 11.2 expected (89%) among leads created by 2025-10-19 (each lead gets "
        "the 14-day MQL window)"
    )
