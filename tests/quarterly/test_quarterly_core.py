"""Quarterly planning core: every rule against a hand-computed example."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics import quarterly as core

Q2 = date(2026, 4, 1)


def test_quarter_label_and_months():
    assert core.quarter_label(date(2026, 10, 1)) == "2026-Q4"
    assert core.quarter_months(date(2026, 10, 1)) == [
        date(2026, 10, 1),
        date(2026, 11, 1),
        date(2026, 12, 1),
    ]


@pytest.mark.parametrize(
    ("row", "verdict"),
    [
        (dict(spend=1000, roas=2.5, cpa=40, target_roas=2.0, target_cpa=50), "worked"),
        (dict(spend=1000, roas=2.5, cpa=60, target_roas=2.0, target_cpa=50), "mixed"),
        (dict(spend=1000, roas=0.9, cpa=10), "did not work"),
        (dict(spend=1000, roas=1.5, target_roas=2.0), "did not work"),  # 75% of target
        (dict(spend=1000, roas=1.7, target_roas=2.0), "mixed"),  # 85% of target
        (dict(spend=1000, roas=1.2), "worked"),
        (dict(spend=0, leads=40.0, revenue=1000.0), "unpaid"),
    ],
)
def test_channel_verdict(row, verdict):
    got, why = core.channel_verdict(row)
    assert got == verdict and why


def test_channel_verdict_reason_carries_numbers():
    _, why = core.channel_verdict(
        dict(
            spend=12000,
            roas=2.5,
            cpa=40,
            target_roas=2.0,
            target_cpa=50,
            prior_roas=2.0,
            utilization=0.9,
        )
    )
    assert why == (
        "spend 12,000; ROAS 2.50 vs target 2.00; CPA 40 vs target 50; "
        "ROAS up from 2.00 last quarter; 90% of its planned budget used"
    )
    _, flat = core.channel_verdict(dict(spend=500, roas=0.0, prior_roas=0.0))
    assert flat == "spend 500; ROAS 0.00; ROAS unchanged from last quarter (0.00)"


def _funnel() -> pd.DataFrame:
    rows = []
    for i, m in enumerate([date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]):
        rows.append(
            dict(
                month=m,
                from_stage="mql",
                to_stage="sql",
                entered=100,
                converted=20,
                flagged=i < 2,
                baseline_rate=0.3,
                shortfall_units=10.0,
                downstream_customers_lost=1.0,
            )
        )
        rows.append(
            dict(
                month=m,
                from_stage="lead",
                to_stage="mql",
                entered=200,
                converted=100,
                flagged=i == 0,
                baseline_rate=0.5,
                shortfall_units=0.0,
                downstream_customers_lost=0.0,
            )
        )
    return pd.DataFrame(rows)


def test_persistent_bottleneck_needs_two_months():
    b = core.persistent_bottlenecks(_funnel())
    first = b.iloc[0]
    assert (first["from_stage"], first["months_flagged"], bool(first["persistent"])) == (
        "mql",
        2,
        True,
    )
    assert first["mean_rate"] == pytest.approx(60 / 300)
    assert (
        first["detail"] == "mql -> sql converted 20.0% vs baseline 30.0%; flagged in 2 of 3 months"
    )
    other = b[b["from_stage"] == "lead"].iloc[0]
    assert not other["persistent"] and other["months_flagged"] == 1


def _allocation() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": ["paid_search", "paid_social", "display"],
            "current_quarter_spend": [50000.0, 30000.0, 20000.0],
            "historical_roi_spend": [65000.0, 15000.0, 10000.0],
            "marginal_roi_spend": [55000.0, 21000.0, 14000.0],
            "expected_revenue_historical_roi": [150000.0, 20000.0, 8000.0],
            "expected_revenue_marginal_roi": [140000.0, 30000.0, 12000.0],
        }
    )


def test_budget_table_adds_the_reserve_and_sums():
    table, summary = core.budget_table(_allocation(), 100000.0)
    reserve = table[table["channel"] == core.RESERVE_CHANNEL].iloc[0]
    assert reserve["historical_roi_spend"] == pytest.approx(10000.0)
    assert reserve["marginal_roi_spend"] == pytest.approx(10000.0)
    assert summary["reserve_share"] == pytest.approx(0.10)
    assert summary["expected_revenue_marginal_roi"] == pytest.approx(182000.0)
    assert core.budget_sums(table, 100000.0) == []


def test_budget_that_does_not_sum_fails():
    table, _ = core.budget_table(_allocation(), 100000.0)
    # historical column no longer adds up after an edit to one channel
    broken = table.copy()
    broken.loc[broken["channel"] == "display", "historical_roi_spend"] = 12000.0
    problems = core.budget_sums(broken, 100000.0)
    assert problems == ["historical_roi_spend sums to 102,000.00, not the budget 100,000.00"]
    # a reserve outside 10-15%
    big, _ = core.budget_table(_allocation(), 120000.0)
    assert any("25.0% of the budget" in p for p in core.budget_sums(big, 120000.0))
    negative = table.copy()
    negative.loc[
        negative["channel"] == "display", ["historical_roi_spend", "marginal_roi_spend"]
    ] = [-5000.0, -5000.0]
    negative.loc[
        negative["channel"] == "paid_search", ["historical_roi_spend", "marginal_roi_spend"]
    ] += 15000.0
    assert any("negative for display" in p for p in core.budget_sums(negative, 100000.0))
    assert core.budget_sums(table, 0.0)[0].startswith("no positive budget")


def _channels() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "channel": ["paid_search", "paid_social", "display", "organic_search"],
            "spend": [50000.0, 30000.0, 20000.0, 0.0],
            "leads": [500.0, 150.0, 40.0, 300.0],
            "revenue": [120000.0, 30000.0, 10000.0, 60000.0],
            "pipeline": [400000.0, 90000.0, 20000.0, 150000.0],
            "customers": [50.0, 10.0, 2.0, 30.0],
        }
    )


def test_goals_from_plan_and_history():
    table, _ = core.budget_table(_allocation(), 100000.0)
    weights = {date(2026, 4, 1): 0.3, date(2026, 5, 1): 0.3, date(2026, 6, 1): 0.4}
    goals, ms = core.derive_goals(table, _channels(), 0.5, Q2, weights)
    g = goals.set_index(["scope_id", "metric"])["target_value"]
    # paid_search: 55,000 planned at last quarter's CPA 100 -> 550 leads
    assert g[("paid_search", "leads")] == pytest.approx(550.0)
    assert g[("paid_search", "revenue")] == pytest.approx(140000.0)  # curve's expectation
    assert g[("paid_search", "pipeline")] == pytest.approx(550 * 800.0)
    assert g[("paid_search", "customers")] == pytest.approx(550 * 0.1)
    assert g[("paid_search", "mqls")] == pytest.approx(275.0)
    # organic search: no spend -> last quarter's volume
    assert g[("organic_search", "leads")] == pytest.approx(300.0)
    assert g[("organic_search", "revenue")] == pytest.approx(60000.0)
    # totals: channel sums, spend plus the reserve
    assert g[("total", "leads")] == pytest.approx(550 + 105 + 28 + 300)
    assert g[("total", "spend")] == pytest.approx(100000.0)
    assert set(goals["due_date"]) == {date(2026, 6, 30)}
    assert core.goal_problems(goals) == []
    total_leads = ms[(ms["scope"] == "total") & (ms["metric"] == "leads")].sort_values(
        "milestone_month"
    )
    assert total_leads["cumulative_target"].tolist() == pytest.approx([983 * 0.3, 983 * 0.6, 983.0])
    assert total_leads["due_date"].tolist() == [
        date(2026, 4, 30),
        date(2026, 5, 31),
        date(2026, 6, 30),
    ]


def test_new_planned_channel_gets_numeric_goals():
    """A channel planned for the first time (no history, no curve: attributed revenue and
    leads unknown) gets goals of 0 with the reason, not NaN, so the plan is not blocked."""
    allocation = pd.concat(
        [
            _allocation(),
            pd.DataFrame(
                {
                    "channel": ["video"],
                    "current_quarter_spend": [0.0],
                    "historical_roi_spend": [3000.0],
                    "marginal_roi_spend": [3000.0],
                    "expected_revenue_historical_roi": [np.nan],
                    "expected_revenue_marginal_roi": [np.nan],
                }
            ),
        ],
        ignore_index=True,
    )
    table, _ = core.budget_table(allocation, 103000.0)
    history = pd.concat(
        [
            _channels(),
            pd.DataFrame(
                {
                    "channel": ["video"],
                    "spend": [0.0],
                    "leads": [np.nan],
                    "revenue": [np.nan],
                    "pipeline": [np.nan],
                    "customers": [np.nan],
                }
            ),
        ],
        ignore_index=True,
    )
    weights = {date(2026, 4, 1): 0.3, date(2026, 5, 1): 0.3, date(2026, 6, 1): 0.4}
    goals, _ = core.derive_goals(table, history, 0.5, Q2, weights)
    video = goals[goals["scope_id"] == "video"].set_index("metric")
    assert video.loc["spend", "target_value"] == pytest.approx(3000.0)
    assert video.loc["revenue", "target_value"] == 0.0
    assert "new channel" in video.loc["revenue", "basis"]
    assert core.goal_problems(goals) == []


def test_goal_without_number_or_date_fails():
    goals = pd.DataFrame(
        [
            dict(
                scope="total",
                scope_id="total",
                metric="revenue",
                target_value=1000.0,
                due_date=date(2026, 6, 30),
            ),
            dict(
                scope="total",
                scope_id="total",
                metric="mqls",
                target_value=np.nan,
                due_date=date(2026, 6, 30),
            ),
            dict(
                scope="channel", scope_id="email", metric="leads", target_value=5.0, due_date=None
            ),
            dict(
                scope="channel",
                scope_id="email",
                metric="",
                target_value=5.0,
                due_date=date(2026, 6, 30),
            ),
        ]
    )
    assert core.goal_problems(goals) == [
        "total/mqls: no number (nan)",
        "email/leads: no date",
        "email/: no metric",
    ]
    assert core.goal_problems(pd.DataFrame()) == ["no goals"]


def test_month_weights():
    months = [date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]
    plan = pd.DataFrame({"month": months * 2, "planned_spend": [100.0, 100.0, 200.0] * 2})
    assert list(core.month_weights(plan, months).values()) == pytest.approx([0.25, 0.25, 0.5])
    assert list(core.month_weights(plan.iloc[:2], months).values()) == pytest.approx([1 / 3] * 3)


def _history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "campaign_type": ["launch", "launch", "flash", "seasonal", "brand"],
            "channel": ["paid_search", "paid_search", "paid_social", "paid_social", "display"],
            "duration_days": [30, 100, 10, 20, 40],
            "start_date": [
                date(2025, 1, 5),
                date(2025, 2, 1),
                date(2025, 3, 1),
                date(2025, 5, 10),
                date(2025, 1, 1),
            ],
            "in_anchor_quarter": [False, False, False, True, False],
        }
    )


def test_typical_duration_is_clamped_median():
    h = _history()
    assert core.typical_duration("launch", h) == 56  # median 65 clamped to 8 weeks
    assert core.typical_duration("flash", h) == 7  # 10 clamped to 7 days
    assert core.typical_duration("brand", h) == 56  # 40 lifted to 8 weeks
    assert core.typical_duration("event", h) == 2  # no history: default
    assert core.typical_duration("always_on", h) == 0


def test_calendar_spends_the_channel_budgets():
    table, _ = core.budget_table(_allocation(), 100000.0)
    mix = pd.DataFrame(
        {
            "channel": ["paid_search", "paid_search", "paid_social", "paid_social"],
            "campaign_type": ["always_on", "launch", "flash", "seasonal"],
            "spend": [30000.0, 20000.0, 10000.0, 20000.0],
            "campaigns": [3, 2, 2, 1],
        }
    )
    cal = core.campaign_calendar(table, mix, _history(), _channels(), Q2)
    by_channel = cal.groupby("channel")["budget"].sum()
    assert by_channel["paid_search"] == pytest.approx(55000.0)
    assert by_channel["paid_social"] == pytest.approx(21000.0)
    assert by_channel["display"] == pytest.approx(14000.0)  # no mix: one always-on slot
    ao = cal[(cal["channel"] == "paid_search") & (cal["campaign_type"] == "always_on")]
    assert len(ao) == 1 and ao["budget"].iloc[0] == pytest.approx(33000.0)
    assert (ao["start_date"].iloc[0], ao["end_date"].iloc[0]) == (Q2, date(2026, 6, 30))
    launches = cal[cal["campaign_type"] == "launch"].sort_values("start_date")
    assert launches["duration_days"].tolist() == [56, 56]
    assert launches["start_date"].tolist() == [Q2, date(2026, 5, 6)]  # 91 - 56 = 35 days apart
    seasonal = cal[cal["campaign_type"] == "seasonal"]
    assert seasonal["start_date"].tolist() == [date(2026, 5, 10)]  # last year's date
    assert seasonal["duration_days"].tolist() == [20]
    # expected revenue at the channel's planned ROAS (30,000 / 21,000)
    assert seasonal["expected_revenue"].iloc[0] == pytest.approx(14000.0 * 30000 / 21000)


def test_testing_roadmap_splits_the_reserve():
    experiments = pd.DataFrame(
        {
            "experiment_id": ["E1", "E1", "E2"],
            "experiment_name": ["Form length", "Form length", "Subject"],
            "verdict": ["keep running", "keep running", "ship"],
            "verdict_reason": ["short of sample", "short of sample", "won"],
            "required_units": [4000, 4000, 100],
        }
    )
    curves = pd.DataFrame(
        {
            "channel": ["display", "paid_search"],
            "usable": [False, True],
            "reason": ["only 3 periods", None],
        }
    )
    bottlenecks = core.persistent_bottlenecks(_funnel())
    r = core.testing_roadmap(experiments, curves, bottlenecks, 9000.0, Q2, {"mql->sql": 1234.0})
    assert r["kind"].tolist() == ["running_experiment", "response_curve", "bottleneck"]
    assert r["budget"].tolist() == pytest.approx([0.0, 4500.0, 4500.0])
    assert r["start_date"].tolist() == [Q2, Q2, date(2026, 4, 29)]
    assert r.loc[r["kind"] == "bottleneck", "required_units"].iloc[0] == 1234.0
    assert list(r.columns) == core.ROADMAP_COLUMNS


def test_no_spend_level_test_on_a_channel_without_budget_next_quarter():
    """A spend-level test alternates a channel's spend; with no budget next quarter there
    is nothing to alternate, so the roadmap leaves the channel out."""
    curves = pd.DataFrame(
        {"channel": ["display", "events"], "usable": [False, False], "reason": ["r2", "r2"]}
    )
    empty = pd.DataFrame()
    r = core.testing_roadmap(empty, curves, empty, 9000.0, Q2, funded_channels={"display"})
    assert r["scope_id"].tolist() == ["display"]
    assert r["budget"].tolist() == pytest.approx([9000.0])
    unfiltered = core.testing_roadmap(empty, curves, empty, 9000.0, Q2)
    assert unfiltered["scope_id"].tolist() == ["display", "events"]


def test_empty_testing_roadmap_keeps_its_columns():
    """Nothing calls for a test: the roadmap is empty but has every column (the report
    orders it by rank)."""
    empty = pd.DataFrame()
    r = core.testing_roadmap(empty, empty, empty, 9000.0, Q2)
    assert r.empty and list(r.columns) == core.ROADMAP_COLUMNS


def test_risks_from_the_data():
    table, _ = core.budget_table(_allocation(), 100000.0)
    curves = pd.DataFrame(
        {
            "channel": ["paid_search", "paid_social", "display"],
            "usable": [True, True, False],
            "reason": [None, None, "only 3 periods"],
            "r2": [0.8, 0.2, np.nan],
            "marginal_return_current": [1.5, 1.0, np.nan],
            "marginal_return_ci_low": [1.2, 0.5, np.nan],
            "marginal_return_ci_high": [1.8, 1.4, np.nan],
        }
    )
    pacing = pd.DataFrame(
        {
            "month": [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1), date(2026, 1, 1)],
            "channel": ["display", "display", "display", "paid_social"],
            "status": ["over", "over", "on_track", "under"],
            "pacing_ratio": [1.3, 1.25, 1.0, 0.7],
        }
    )
    quality = pd.DataFrame(
        {
            "signal": ["unclassified_touchpoints", "spend_without_touchpoints", "quarantined_rows"],
            "scope_id": ["touchpoints", "C9", "leads"],
            "value": [800.0, 4200.0, 12.0],
            "share": [0.08, 0.04, 0.01],
        }
    )
    risks = core.plan_risks(curves, table, pacing, quality)
    kinds = risks.groupby("kind")["scope_id"].apply(list).to_dict()
    # paid_social: R^2 0.2 and budget -30% -> high; display: no curve, budget -30%
    assert sorted(kinds["unstable_response_curve"]) == ["display", "paid_social"]
    assert kinds["pacing"] == ["display"]  # two months off plan; paid_social only one
    assert sorted(kinds["data_quality"]) == ["C9", "leads", "touchpoints"]
    conc = risks[risks["kind"] == "concentration"].iloc[0]
    assert conc["scope_id"] == "paid_search" and conc["value"] == pytest.approx(55 / 90)
    assert conc["severity"] == "high"
    assert risks["severity"].tolist()[0] == "high" and risks["rank"].tolist() == list(
        range(1, len(risks) + 1)
    )
    low = quality.assign(share=[0.02, 0.04, 0.01])
    assert "touchpoints" not in core.plan_risks(curves, table, pacing, low)["scope_id"].tolist()
    # one deal of 200,000 among 31,738 of others: 86% of the quarter's won revenue
    deals = [200_000.0, 9_000.0, 12_738.0, 10_000.0]
    with_deal = core.plan_risks(curves, table, pacing, quality, won_amounts=deals)
    risk = with_deal[with_deal["kind"] == "revenue_concentration"].iloc[0]
    assert risk["severity"] == "high" and risk["value"] == pytest.approx(200_000 / 231_738)
    assert risk["evidence"].startswith(
        "one deal of 200,000 is 86% of the quarter's won revenue (3 other deals: 31,738)"
    )
    assert "plan revenue on the other deals (31,738 last quarter)" in risk["mitigation"]
    assert "revenue_concentration" not in set(risks["kind"])


def test_goals_are_set_against_the_targets_the_user_supplied():
    """Q4 targets of 130,000 revenue and 2,600 leads a month (all three months) against a
    derived plan of 349,194 revenue and 8,000 leads: gaps -40,806 and +200; a target
    supplied for one month only is not compared (it would look like a shortfall)."""
    goals = pd.DataFrame(
        {
            "scope": ["total", "total", "channel"],
            "scope_id": ["total", "total", "paid_search"],
            "metric": ["revenue", "leads", "leads"],
            "target_value": [349_194.0, 8_000.0, 3_000.0],
        }
    )
    supplied = pd.DataFrame(
        {
            "scope": ["total", "total", "channel"],
            "scope_id": ["total", "total", "paid_search"],
            "metric": ["revenue", "leads", "leads"],
            "supplied_target": [390_000.0, 7_800.0, 1_000.0],
            "supplied_months": [3, 3, 1],
        }
    )
    out = core.with_supplied_targets(goals, supplied).set_index(["scope_id", "metric"])
    assert out.loc[("total", "revenue"), "gap_to_supplied"] == pytest.approx(-40_806.0)
    assert out.loc[("total", "leads"), "gap_to_supplied"] == pytest.approx(200.0)
    assert np.isnan(out.loc[("paid_search", "leads"), "gap_to_supplied"])
    none = core.with_supplied_targets(goals, pd.DataFrame())
    assert none["gap_to_supplied"].isna().all() and len(none) == 3


def test_supplied_targets_sql_sums_the_plan_quarter_months():
    import duckdb

    from gtm_assets.sql_files import load_sql

    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute(
        "create table staging.targets as select * from (values "
        "(date '2026-10-01', 'total', null, 'revenue', 130000.0), "
        "(date '2026-11-01', 'total', null, 'revenue', 130000.0), "
        "(date '2026-12-01', 'total', null, 'revenue', 130000.0), "
        "(date '2026-10-01', 'channel', 'paid_search', 'leads', 100.0), "
        "(date '2026-09-01', 'total', null, 'revenue', 1.0)"  # before the plan quarter
        ") as t(month, scope, scope_id, metric, target_value)"
    )
    got = con.execute(
        load_sql("marts/quarter_supplied_targets"),
        {"next_start": date(2026, 10, 1), "next_end": date(2027, 1, 1)},
    ).fetchall()
    assert sorted(got) == [
        ("channel", "paid_search", "leads", 100.0, 1),
        ("total", "total", "revenue", 390000.0, 3),
    ]


def test_calendar_books_campaigns_already_planned_first():
    """paid_social's 21,000: a seasonal campaign already in campaigns.csv (12,000 in the
    quarter) comes first; the generated slots share the remaining 9,000. display's 14,000
    against a planned 20,000 campaign: the campaign is scaled to fit, no generated slot.
    Every channel still spends exactly its budget."""
    table, _ = core.budget_table(_allocation(), 100000.0)
    mix = pd.DataFrame(
        {
            "channel": ["paid_social", "paid_social"],
            "campaign_type": ["flash", "seasonal"],
            "spend": [10000.0, 20000.0],
            "campaigns": [2, 1],
        }
    )
    planned = pd.DataFrame(
        {
            "campaign_id": ["C13", "C20"],
            "campaign_name": ["Summer sale", "Display burst"],
            "channel": ["paid_social", "display"],
            "campaign_type": ["seasonal", "flash"],
            "start_date": [date(2026, 6, 1), date(2026, 4, 10)],
            "end_date": [date(2026, 6, 20), date(2026, 4, 20)],
            "budget_in_quarter": [12000.0, 20000.0],
        }
    )
    cal = core.campaign_calendar(table, mix, _history(), _channels(), Q2, planned)
    by_channel = cal.groupby("channel")["budget"].sum()
    assert by_channel["paid_social"] == pytest.approx(21000.0)
    assert by_channel["display"] == pytest.approx(14000.0)
    sale = cal[cal["slot"] == "Summer sale (C13, planned)"].iloc[0]
    assert sale["budget"] == pytest.approx(12000.0) and sale["start_date"] == date(2026, 6, 1)
    assert sale["timing"] == "already planned in campaigns.csv"
    generated = cal[(cal["channel"] == "paid_social") & ~cal["slot"].str.contains("planned")]
    assert generated["budget"].sum() == pytest.approx(9000.0)
    burst = cal[cal["channel"] == "display"]
    assert len(burst) == 1 and burst["budget"].iloc[0] == pytest.approx(14000.0)
    assert "scaled to 70% to fit the budget" in burst["timing"].iloc[0]


def test_planned_campaigns_sql_prorates_the_quarter():
    import duckdb

    from gtm_assets.sql_files import load_sql

    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute(
        "create table staging.campaigns as select * from (values "
        "('C13', 'Black Friday', 'paid_social', 'seasonal', date '2026-11-20', date '2026-11-30', 20000.0), "
        "('C9', 'Straddle', 'display', 'launch', date '2026-09-22', date '2026-10-01', 1000.0), "
        "('AO', 'Always', 'paid_search', 'always_on', date '2026-01-01', null, 50000.0), "
        "('OLD', 'Old', 'events', 'event', date '2026-05-01', date '2026-05-02', 900.0)"
        ") as t(campaign_id, campaign_name, channel, campaign_type, start_date, end_date, planned_budget)"
    )
    got = (
        con.execute(
            load_sql("marts/quarter_planned_campaigns"),
            {"next_start": date(2026, 10, 1), "next_end": date(2027, 1, 1)},
        )
        .df()
        .set_index("campaign_id")
    )
    assert list(got.index) == ["C9", "C13"]
    assert got.loc["C13", "budget_in_quarter"] == pytest.approx(20000.0)
    assert got.loc["C9", "budget_in_quarter"] == pytest.approx(100.0)  # 1 of its 10 days
    assert got.loc["C9", "start_date"] == pd.Timestamp("2026-10-01")


def test_short_history_is_a_plan_risk():
    """Exports from 1 January, Q1 ends 1 April: 90 days of history against a 75-day median
    lead-to-win time (< 150): flagged. By Q2's end (181 days) it is not."""
    risk = core.short_history_risk(date(2025, 1, 1), date(2025, 4, 1), 75.0)
    assert risk["kind"] == "short_history" and risk["severity"] == "high"
    assert risk["value"] == 90 and risk["threshold"] == 150
    assert risk["evidence"].startswith(
        "the exports begin on 2025-01-01, 90 days before the quarter's end, and the median "
        "lead-to-win time is 75 days"
    )
    assert core.short_history_risk(date(2025, 1, 1), date(2025, 7, 1), 75.0) is None
    # nothing won yet: a 90-day cycle is assumed (180 days needed)
    none_won = core.short_history_risk(date(2025, 1, 1), date(2025, 4, 1), None)
    assert none_won is not None and "no deal has been won yet" in none_won["evidence"]
    assert core.short_history_risk(None, date(2025, 4, 1), 75.0) is None


def test_quarter_history_sql_by_hand():
    """First lead 5 January; deals won 40 and 50 days after their leads before 1 April
    (median 45); a win after the quarter's end does not count."""
    import duckdb

    from gtm_assets.sql_files import load_sql

    con = duckdb.connect()
    con.execute("create schema staging; create schema intermediate")
    con.execute(
        "create table staging.leads as select * from (values ('L1', timestamp '2025-01-05'), "
        "('L2', timestamp '2025-01-10'), ('L3', timestamp '2025-02-01')) as t(lead_id, created_at)"
    )
    con.execute(
        "create table intermediate.conversions as select * from (values "
        "('L1', 'lead', timestamp '2025-01-05'), ('L2', 'lead', timestamp '2025-01-10'), "
        "('L3', 'lead', timestamp '2025-02-01'), ('L1', 'won', timestamp '2025-02-14'), "
        "('L2', 'won', timestamp '2025-04-20'), ('L3', 'won', timestamp '2025-03-23')) "
        "as t(lead_id, conversion_type, converted_at)"
    )
    con.execute(
        "create table staging.ad_spend as select * from (values (date '2024-04-10', 500.0), "
        "(date '2025-01-15', 1000.0), (date '2025-03-31', 200.0), (date '2025-04-01', 9.0)) "
        "as t(date, spend)"
    )
    params = {"quarter_start": date(2025, 1, 1), "quarter_end": date(2025, 4, 1)}
    row = con.execute(load_sql("marts/quarter_history"), params).df().iloc[0]
    assert row["first_day"] == pd.Timestamp("2025-01-05")
    assert row["deals_won"] == 2  # L2's win is after the quarter's end
    assert row["median_days_to_win"] == pytest.approx((40 + 50) / 2)
    # reviewed Q1 2025: 3 leads, 1,200 spent; the planned Q2's months a year earlier
    # (April-June 2024): 500 spent, no lead, and the exports begin after their start
    assert (row["review_leads"], row["review_spend"]) == (3, 1200.0)
    assert (row["ly_leads"], row["ly_spend"]) == (0, 500.0)
    assert row["ly_start"] == pd.Timestamp("2024-04-01") and not row["ly_covered"]


def test_seasonality_risk_from_the_same_months_a_year_earlier():
    """Q4 reviewed at 1,300 leads on 100,000; last year's Q1 had 1,000 on 100,000: 23% fewer
    leads per unit of spend, so the goals carried forward from Q4 are too high."""
    history = dict(
        ly_covered=True,
        ly_start=date(2025, 1, 1),
        review_leads=1300,
        review_spend=100_000.0,
        ly_leads=1000,
        ly_spend=100_000.0,
    )
    risk = core.seasonality_risk(history)
    assert risk["kind"] == "seasonality" and risk["value"] == pytest.approx(1000 / 1300)
    assert risk["evidence"].startswith(
        "the planned quarter's months a year ago (from 2025-01) brought 23% fewer leads per "
        "unit of spend than the quarter just reviewed"
    )
    assert "expect about 77% of the lead goals" in risk["mitigation"]
    assert core.seasonality_risk({**history, "ly_leads": 1200}) is None  # within 15%
    assert core.seasonality_risk({**history, "ly_covered": False}) is None
    # no spend at all: leads against leads
    no_spend = {**history, "review_spend": 0.0, "ly_spend": 0.0, "ly_leads": 1600}
    assert "23% more leads than" in core.seasonality_risk(no_spend)["evidence"]


def test_learnings_name_the_weakest_channel_plainly_and_skip_an_empty_role():
    """The weakest paid channel is "the least of the paid channels" (not "only", beside a
    "worked" verdict), and a first/last-touch gap under 5 points is no opener/closer role."""
    channels = pd.DataFrame(
        {
            "channel": ["paid_search", "paid_social"],
            "spend": [100_000.0, 60_000.0],
            "revenue": [700_000.0, 224_000.0],
            "roas": [7.0, 3.73],
            "prior_roas": [np.nan, np.nan],
            "planned_spend": [np.nan, np.nan],
            "verdict": ["worked", "worked"],
            "first_touch_share": [0.36, 0.30],
            "last_touch_share": [0.36, 0.28],
        }
    )
    empty = pd.DataFrame(columns=["persistent"])
    out = core.key_learnings(channels, pd.DataFrame(), empty)
    worst = out.loc[out["kind"] == "worst_channel", "learning"].iloc[0]
    assert worst == (
        "paid_social returned the least of the paid channels, 3.73 per dollar on 60,000 spend "
        "(worked)."
    )
    assert "attribution" not in set(out["kind"])
    opener = channels.assign(first_touch_share=[0.36, 0.40], last_touch_share=[0.36, 0.20])
    out = core.key_learnings(opener, pd.DataFrame(), empty)
    assert out.loc[out["kind"] == "attribution", "scope_id"].tolist() == ["paid_social"]


def test_a_steadily_rising_cost_per_sql_is_a_learning():
    """Cost per SQL up 6% a month for six months (leads flat, SQLs falling): flagged, with
    the slope a weighted log-linear fit finds (checked against numpy's polyfit); flat or
    noisy series are not."""
    months = [date(2025, m, 1) for m in range(7, 13)]
    sqls = [100 / 1.06**i for i in range(6)]
    rows = pd.DataFrame(
        {
            "channel": "paid_social",
            "month": months,
            "spend": 10_000.0,
            "leads": 400.0,
            "sqls": sqls,
        }
    )
    flat = rows.assign(channel="paid_search", sqls=[100, 104, 97, 101, 99, 102])
    found = core.degrading_channels(pd.concat([rows, flat]))
    assert list(found["channel"]) == ["paid_social"]
    r = found.iloc[0]
    assert r["unit"] == "sqls" and r["months"] == 6
    slope = np.polyfit(np.arange(6), np.log(10_000.0 / np.array(sqls)), 1, w=np.sqrt(sqls))[0]
    assert r["monthly_rise"] == pytest.approx(np.exp(slope) - 1, rel=1e-9)
    assert r["monthly_rise"] == pytest.approx(0.06, rel=1e-9)
    assert r["first_cost"] == pytest.approx(100.0) and r["last_cost"] == pytest.approx(
        10_000 / sqls[-1]
    )
    learnings = core.key_learnings(
        pd.DataFrame(columns=["channel", "spend", "roas", "first_touch_share", "last_touch_share"]),
        pd.DataFrame(),
        pd.DataFrame(columns=["persistent"]),
        months=pd.concat([rows, flat]),
    )
    text = learnings.set_index("kind").loc["degrading_channel", "learning"]
    assert text.startswith(
        "paid_social's cost per SQL rose about 6% a month over the last 6 months"
    )
    assert core.degrading_channels(rows.head(4)).empty  # too few months
