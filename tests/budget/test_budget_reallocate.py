from datetime import date

import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics.allocation import PeriodHill
from gtm_assets.analytics.budget import (
    BudgetOptions,
    FunctionCurve,
    boot_table,
    channel_plots,
    curves_table,
    daily_design,
    fit_curves,
    fits_from_tables,
    flighting_shortfall,
    period_points,
    reallocate,
    saturation_waste,
    uplift_capture,
)
from gtm_assets.analytics.response_curves import CurveFit, hill, period_response

DAYS = 30
PERIODS = DAYS / 7


def _fit(top, k, n, smin=1_000.0, smax=20_000.0):
    rng = np.random.default_rng(0)
    boot = np.column_stack(
        [top * rng.normal(1, 0.05, 50), k * rng.normal(1, 0.05, 50), np.full(50, n)]
    )
    return CurveFit(top, k, n, 0.0, 0.9, 1.0, 40, smin, smax, boot=boot)


FITS = {
    ("search", "revenue"): _fit(60_000, 20_000, 1.0),
    ("social", "revenue"): _fit(30_000, 3_000, 1.0),
    ("display", "revenue"): _fit(25_000, 6_000, 1.8),
}
CURRENT = {"search": 40_000.0, "social": 30_000.0, "display": 30_000.0}


def test_reallocation_honours_budget_bounds_reserve_and_kkt():
    opts = BudgetOptions()
    r = reallocate(FITS, CURRENT, {}, {}, DAYS, opts)
    t = r.table.set_index("channel")
    assert r.budget_source == "current_spend" and r.budget == pytest.approx(100_000.0)
    assert r.reserve == pytest.approx(10_000.0)
    assert (t["next_budget"] == 100_000.0).all() and (t["test_reserve_amount"] == 10_000.0).all()
    assert (t["budget_source"] == "current_spend").all()
    assert t["recommended_spend"].sum() == pytest.approx(90_000.0)
    # reference = current share of the allocatable budget; bounds +-30% of it
    assert t.loc["search", "reference_spend"] == pytest.approx(36_000.0)
    assert t.loc["search", "lower_bound"] == pytest.approx(36_000.0 * 0.7)
    assert (t["recommended_spend"] >= t["lower_bound"] - 1e-6).all()
    assert (t["recommended_spend"] <= t["upper_bound"] + 1e-6).all()
    # change_pct in percent, like every *_change_pct in marts
    assert t.loc["search", "change_pct"] == pytest.approx(
        100 * (t.loc["search", "recommended_spend"] / t.loc["search", "current_spend"] - 1)
    )
    assert r.kkt_passed
    # marginal ROAS at the recommendation is the derivative at weekly spend of the curve
    # maximised: by default the mean of the fit's bootstrap curves
    w = t.loc["search", "recommended_spend"] / PERIODS
    f = FITS[("search", "revenue")]
    draws = [CurveFit(tp, k, n, 0.0, 0.9, 1.0, 40, 0.0, 1.0) for tp, k, n in f.boot]
    assert t.loc["search", "marginal_roas_recommended"] == pytest.approx(
        np.mean([float(d.marginal(w)) for d in draws])
    )
    assert t.loc["search", "expected_revenue_recommended"] == pytest.approx(
        PERIODS * np.mean([float(d.response(w)) for d in draws])
    )
    # with the point objective, the point fit's
    rp = reallocate(FITS, CURRENT, {}, {}, DAYS, BudgetOptions(objective_curve="point"))
    tp = rp.table.set_index("channel")
    wp = tp.loc["search", "recommended_spend"] / PERIODS
    assert rp.kkt_passed
    assert tp.loc["search", "marginal_roas_recommended"] == pytest.approx(float(f.marginal(wp)))
    assert tp.loc["search", "expected_revenue_recommended"] == pytest.approx(
        PERIODS * float(f.response(wp))
    )
    lo, hi = r.total_recommended_ci
    assert lo <= r.total_recommended <= hi
    # the gain over the reference mix, paired draw by draw: brackets the point gain, and
    # is far narrower than the difference of the two totals' intervals
    g_lo, g_hi = r.gain_ci
    gain = r.total_recommended - r.total_reference
    assert g_lo <= gain <= g_hi and g_lo > 0
    assert g_hi - g_lo < (hi - lo)
    assert (t["total_gain_ci_low"] == g_lo).all() and (t["total_gain_ci_high"] == g_hi).all()


def test_plan_budget_pinned_and_extrapolation_cap():
    opts = BudgetOptions(pinned_channels=("display",), extrapolation_limit=0.1)
    fits = dict(FITS)
    fits[("social", "revenue")] = _fit(30_000, 3_000, 1.0, smax=8_000.0)
    plan = {"search": 50_000.0, "social": 40_000.0, "display": 30_000.0}
    r = reallocate(fits, CURRENT, plan, {}, DAYS, opts)
    t = r.table.set_index("channel")
    assert r.budget_source == "budget_plan" and r.budget == pytest.approx(120_000.0)
    assert t.loc["display", "recommended_spend"] == pytest.approx(30_000.0)
    assert bool(t.loc["display", "pinned"])
    # social may not exceed 1.1 x its largest fitted weekly spend (8000/week)
    cap = 8_000 * 1.1 * PERIODS
    ref = t.loc["social", "reference_spend"]
    assert t.loc["social", "upper_bound"] == pytest.approx(max(cap, ref))
    assert bool(t.loc["social", "extrapolation_capped"])
    assert t["recommended_spend"].sum() == pytest.approx(108_000.0)


def test_held_channels_beyond_the_budget_are_scaled_to_fit():
    """Social and display did not spend this month but next month's plan gives them 60,000
    and 40,000 of its 110,000: held, they need 100,000 where 99,000 is allocatable after
    the 10% reserve (this failed the month before). Every channel's amount, held or current
    (search's 40,000), is scaled by 99,000 / 140,000 to fit."""
    current = {"search": 40_000.0, "social": 0.0, "display": 0.0}
    plan = {"search": 10_000.0, "social": 60_000.0, "display": 40_000.0}
    r = reallocate(FITS, current, plan, {}, DAYS, BudgetOptions())
    t = r.table.set_index("channel")
    scale = 99_000 / 140_000
    assert t.loc["social", "reference_spend"] == pytest.approx(60_000 * scale)
    assert t.loc["display", "reference_spend"] == pytest.approx(40_000 * scale)
    assert t.loc["search", "reference_spend"] == pytest.approx(40_000 * scale)
    assert t["recommended_spend"].sum() == pytest.approx(99_000.0)
    assert t.loc["social", "recommended_spend"] == pytest.approx(60_000 * scale)
    assert any("need 100,000.00 but 99,000.00 is allocatable" in n for n in r.notes)
    assert t.loc["social", "pinned_reason"] == (
        "no spend this month: held at its planned amount (scaled to 71% to fit the budget "
        "after the reserve)"
    )


def test_channel_without_usable_curve_may_be_cut_but_not_raised():
    fits = dict(FITS)
    fits[("display", "revenue")] = CurveFit(
        np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, 3, 1.0, 2.0, usable=False, reason="too few"
    )
    # an average return of 0.8 is below the others' marginal return: cut to 0.7 x 27000
    r = reallocate(fits, CURRENT, {}, {"display": 0.8}, DAYS, BudgetOptions())
    t = r.table.set_index("channel")
    assert t.loc["display", "recommended_spend"] == pytest.approx(0.7 * 27_000.0)
    assert (t.loc["display", "lower_bound"], t.loc["display", "upper_bound"]) == pytest.approx(
        (0.7 * 27_000.0, 27_000.0)
    )
    assert t.loc["display", "curve_source"] == "average_return"
    assert t.loc["display", "expected_revenue_current"] == pytest.approx(0.8 * 30_000)
    assert "too few" in t.loc["display", "pinned_reason"]
    assert "not raised" in t.loc["display", "pinned_reason"]
    assert r.kkt_passed
    # an average return of 50 would pull money in; it stays at its reference instead
    r = reallocate(fits, CURRENT, {}, {"display": 50.0}, DAYS, BudgetOptions())
    t = r.table.set_index("channel")
    assert t.loc["display", "recommended_spend"] == pytest.approx(27_000.0)
    assert r.kkt_passed
    # cut_without_curve=False holds it
    r = reallocate(
        fits, CURRENT, {}, {"display": 0.8}, DAYS, BudgetOptions(cut_without_curve=False)
    )
    t = r.table.set_index("channel")
    assert t.loc["display", "recommended_spend"] == pytest.approx(27_000.0)
    assert bool(t.loc["display", "pinned"])


def test_channel_with_no_outcome_in_any_week_moves_to_its_lower_bound():
    """A channel that spent every week and earned no attributed lead in any of them has a
    measured zero return, not an unknown curve: the optimizer takes money out of it
    (down to its lower bound) instead of holding it and cutting a channel that returns."""
    from gtm_assets.analytics.budget import revenue_from_leads
    from gtm_assets.analytics.response_curves import fit_hill

    weekly = np.linspace(5_000.0, 9_000.0, 20)
    zero = fit_hill(weekly, np.zeros(20), n_boot=10)
    assert zero.usable and zero.top == 0.0 and "no attributed outcome" in zero.reason
    lead_fits = {("display", "conversions"): zero}
    revenue = revenue_from_leads(
        lead_fits, pd.DataFrame({"channel": ["display"], "value_per_lead": [0.0]})
    )
    assert revenue[("display", "revenue")].usable  # a value of 0 per lead is a measured zero
    # no leads at all: no value per lead can be estimated, and none is needed
    unknown_value = revenue_from_leads(
        lead_fits, pd.DataFrame(columns=["channel", "value_per_lead"])
    )
    assert unknown_value[("display", "revenue")].usable
    assert unknown_value[("display", "revenue")].top == 0.0
    fits = dict(FITS)
    fits[("display", "revenue")] = zero
    r = reallocate(fits, CURRENT, {}, {}, DAYS, BudgetOptions())
    t = r.table.set_index("channel")
    assert t.loc["display", "recommended_spend"] == pytest.approx(t.loc["display", "lower_bound"])
    assert not bool(t.loc["display", "pinned"])
    assert t.loc["display", "expected_revenue_recommended"] == pytest.approx(0.0)
    assert r.kkt_passed


def test_uplift_capture_is_one_at_the_true_optimum_and_lower_elsewhere():
    true = [
        FunctionCurve(lambda s, a=a: hill(s, *a), PERIODS)
        for a in [(60_000, 20_000, 1.0), (30_000, 3_000, 1.0), (25_000, 6_000, 1.8)]
    ]
    base = np.array([36_000.0, 27_000.0, 27_000.0])
    lo, hi = base * 0.7, base * 1.3
    r = reallocate(FITS, CURRENT, {}, {}, DAYS, BudgetOptions())
    rec = r.table["recommended_spend"].to_numpy()
    # FITS equal the true curves -> the recommendation is the true optimum
    order = ["search", "social", "display"]
    rec = r.table.set_index("channel").loc[order, "recommended_spend"].to_numpy()
    ev = uplift_capture(true, base, rec, lo, hi, 90_000.0)
    assert ev["capture"] == pytest.approx(1.0, abs=1e-3)
    ev_base = uplift_capture(true, base, base, lo, hi, 90_000.0)
    assert ev_base["capture"] == pytest.approx(0.0, abs=1e-9)
    assert ev["achievable_uplift"] > 0


def test_saturation_waste_hand_computed():
    # n = 1: marginal = top K / (K + s)^2 per week; top = 10_000, K = 1_000
    fits = {("x", "revenue"): _fit(10_000, 1_000, 1.0)}
    spend = (
        9_000.0 * PERIODS
    )  # weekly 9000: marginal = 1e7 / 1e8 = 0.1, average = 0.9*10000/9000 = 1.0
    w = saturation_waste(fits, {"x": spend}, PERIODS)
    assert len(w) == 1
    # marginal = 1 at weekly s1 with (1000 + s1)^2 = 1e7 -> s1 = 2162.28
    s1 = (np.sqrt(1e7) - 1000) * PERIODS
    curve = PeriodHill(10_000, 1_000, 1.0, PERIODS)
    expected = (spend - s1) - (float(curve.value(spend)) - float(curve.value(s1)))
    assert w.iloc[0]["wasted_spend"] == pytest.approx(expected, rel=1e-6)
    assert (
        f"the {spend - s1:,.0f} spent above {s1:,.0f} a month returns less than it costs"
        in (w.iloc[0]["detail"])
    )


def _saturation_fit(draw_marginals):
    """Point fit top 10,000, K 1,000, n 1 (weekly spend 8,000: marginal 1e7 / 8.1e7 = 0.123,
    average 10,000 * 8/9 / 8,000 = 1.11); draws that differ in top only, so each draw's
    marginal at 8,000 is top * K / (K + s)^2 = top / 81,000."""
    tops = np.asarray(draw_marginals, dtype=float) * 81_000.0
    boot = np.column_stack([tops, np.full(tops.size, 1_000.0), np.ones(tops.size)])
    return {("x", "revenue"): CurveFit(10_000, 1_000, 1.0, 0.0, 0.9, 1.0, 40, 1e3, 2e4, boot=boot)}


def test_saturation_waste_needs_most_draws_below_one():
    # 20 draws with marginals 0.15, 0.25, ..., 2.05: below 1 on 9 of 20 = 45%
    fits = _saturation_fit(np.arange(1, 21) * 0.1 + 0.05)
    spend = 8_000.0 * PERIODS
    assert saturation_waste(fits, {"x": spend}, PERIODS).empty  # 45% < 95%: could be noise
    w = saturation_waste(fits, {"x": spend}, PERIODS, min_probability=0.45)
    assert len(w) == 1
    assert w.iloc[0]["value"] == pytest.approx(1e7 / 9_000.0**2)
    assert "returns 0.12 (below 1 on 45% of the bootstrap's curves)" in w.iloc[0]["detail"]
    assert saturation_waste(fits, {"x": spend}, PERIODS, min_probability=0.46).empty


def test_saturation_waste_default_is_95_percent_of_draws():
    # 19 of 20 draws below 1 (0.05, ..., 0.95 and one at 1.5): exactly 95%, reported
    fits = _saturation_fit([*(np.arange(1, 20) * 0.05), 1.5])
    w = saturation_waste(fits, {"x": 8_000.0 * PERIODS}, PERIODS)
    assert "(below 1 on 95% of the bootstrap's curves)" in w.iloc[0]["detail"]
    # 18 of 20: not
    fits = _saturation_fit([*(np.arange(1, 19) * 0.05), 1.5, 1.5])
    assert saturation_waste(fits, {"x": 8_000.0 * PERIODS}, PERIODS).empty


def test_saturation_waste_without_draws_reads_the_point_fit():
    fits = _saturation_fit([])
    w = saturation_waste(fits, {"x": 8_000.0 * PERIODS}, PERIODS)
    assert len(w) == 1
    assert "(no bootstrap draws: the point fit alone)" in w.iloc[0]["detail"]


def test_period_points_rescale_to_model_and_correct_completeness():
    # one channel, two weeks of spend; credit timing: conversions in June credit week 1 (70%)
    # and week 2 (30%); the model gives 100 leads to the channel in June.
    spend = pd.DataFrame(
        {
            "date": pd.date_range("2024-06-03", periods=14, freq="D"),
            "campaign_id": "a",
            "channel": "c",
            "spend": 10.0,
        }
    )
    credit = pd.DataFrame(
        {
            "conversion_type": ["lead", "lead"],
            "conversion_month": [pd.Timestamp("2024-06-01")] * 2,
            "channel": ["c", "c"],
            "period_start": [pd.Timestamp("2024-06-03"), pd.Timestamp("2024-06-10")],
            "lag_week": [0, 0],
            "conversion_credit": [7.0, 3.0],
            "value_credit": [0.0, 0.0],
        }
    )
    model = pd.DataFrame(
        {
            "conversion_month": [pd.Timestamp("2024-06-01")],
            "conversion_type": ["lead"],
            "channel": ["c"],
            "model_conversions": [100.0],
            "model_revenue": [0.0],
        }
    )
    from datetime import date

    pts = period_points(spend, credit, model, date(2024, 6, 1), date(2024, 7, 1), 7, 0.0)
    conv = pts[pts["metric"] == "conversions"].set_index("period_start")
    assert conv.loc[date(2024, 6, 3), "outcome_observed"] == pytest.approx(70.0)
    assert conv.loc[date(2024, 6, 10), "outcome_observed"] == pytest.approx(30.0)
    assert conv.loc[date(2024, 6, 3), "spend"] == pytest.approx(70.0)
    # every lag is < 1 week and weeks are >= 7 days old at month end: complete
    assert conv["completeness"].iloc[:2].tolist() == pytest.approx([1.0, 1.0])
    # a window reaching back before the export began starts at its first whole week
    early = period_points(spend, credit, model, date(2023, 7, 1), date(2024, 7, 1), 7, 0.0)
    weeks = sorted(set(early["period_start"]))
    assert weeks[0] == date(2024, 6, 3) and len(weeks) == 4


def test_periods_crediting_an_unattributed_month_are_unknown():
    """Spend from May; attribution slices for June only (May was never materialized, e.g.
    a backfill that started in June). May's weeks can earn credit in May and are left out
    (attribution_missing), not fitted as weeks without leads; June's weeks are used."""
    from datetime import date

    spend = pd.DataFrame(
        {
            "date": pd.date_range("2024-05-06", "2024-06-23", freq="D"),
            "campaign_id": "a",
            "channel": "c",
            "spend": 10.0,
        }
    )
    credit = pd.DataFrame(
        {
            "conversion_type": ["lead"] * 4,
            "conversion_month": [pd.Timestamp("2024-05-01")] * 2 + [pd.Timestamp("2024-06-01")] * 2,
            "channel": ["c"] * 4,
            "period_start": pd.to_datetime(
                ["2024-05-06", "2024-05-13", "2024-06-03", "2024-06-10"]
            ),
            "lag_week": [0] * 4,
            "conversion_credit": [5.0, 5.0, 7.0, 3.0],
            "value_credit": [0.0] * 4,
        }
    )
    model = pd.DataFrame(
        {
            "conversion_month": [pd.Timestamp("2024-06-01")],
            "conversion_type": ["lead"],
            "channel": ["c"],
            "model_conversions": [100.0],
            "model_revenue": [0.0],
        }
    )
    pts = period_points(spend, credit, model, date(2024, 1, 1), date(2024, 7, 1), 7, 0.0)
    conv = pts[pts["metric"] == "conversions"].set_index("period_start")
    may, june = conv.loc[date(2024, 5, 13)], conv.loc[date(2024, 6, 10)]
    assert bool(may["attribution_missing"]) and not bool(may["used_in_fit"])
    assert pd.isna(may["outcome"])
    # the last May week (May 27 - Jun 2) also touches May conversions: unknown too
    assert bool(conv.loc[date(2024, 5, 27), "attribution_missing"])
    assert not bool(june["attribution_missing"]) and bool(june["used_in_fit"])
    assert june["outcome"] == pytest.approx(30.0)


def test_tables_round_trip_and_plots_are_png():
    table = curves_table(FITS, {"search": 9_000.0, "social": 7_000.0, "display": 7_000.0})
    boot = boot_table(FITS)
    back = fits_from_tables(table, boot)
    assert back[("search", "revenue")].k == pytest.approx(20_000)
    assert set(table["saturation_grain"]) == {"week"}
    assert back[("search", "revenue")].boot.shape == (50, 3)
    r = reallocate(FITS, CURRENT, {}, {}, DAYS, BudgetOptions())
    pts = pd.DataFrame(
        {
            "channel": ["search"],
            "metric": ["revenue"],
            "spend": [9_000.0],
            "outcome": [18_000.0],
            "used_in_fit": [True],
        }
    )
    pngs = channel_plots(table, boot, pts, r.table, "revenue", DAYS)
    assert set(pngs) == {"search", "social", "display"}
    assert all(p[:8] == b"\x89PNG\r\n\x1a\n" and len(p) > 5_000 for p in pngs.values())


def test_lead_values_correct_young_leads_for_deals_still_to_close():
    from gtm_assets.analytics.budget import deal_completeness, lead_values, revenue_from_leads

    # chain ladder, horizon 100: leads >= 51 days old won 100 after 10 days and 300 after
    # 50 -> F(10..49) = 100 / 400 = .25; a 20-day-old lead won 999 after 5 days, so among
    # leads >= 10 days old F(9) / F(10) = 999 / (999 + 100); nothing closed by day 4
    lags = pd.DataFrame(
        {"lag_days": [10, 50, 5], "lead_age_days": [150, 120, 20], "value": [100.0, 300.0, 999.0]}
    )
    f = deal_completeness(lags, horizon_days=100)
    assert [f(4), f(5), f(9), f(10), f(30), f(50), f(500)] == pytest.approx(
        [0.0, 0.25 * 999 / 1099, 0.25 * 999 / 1099, 0.25, 0.25, 1.0, 1.0]
    )
    split = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L2", "L3"],
            "channel": ["A", "A", "B", "B"],
            "credit": [1.0, 0.5, 0.5, 1.0],
            "age_days": [200, 30, 30, 4],
            "won_value": [600.0, 100.0, 100.0, 0.0],
        }
    )
    v = lead_values(split, lags, horizon_days=100, min_completeness=0.2, shrink=False)
    v = v.set_index("channel")
    # L2's 100 so far is a quarter of what it will bring: 400; L3 (F = 0) is left out
    assert v.loc["A", "value_per_lead"] == pytest.approx((600 + 0.5 * 400) / 1.5)
    assert v.loc["B", "value_per_lead"] == pytest.approx(400.0)
    assert v.loc["B", "credited_leads"] == pytest.approx(0.5)
    fits = {("A", "conversions"): _fit(10.0, 500.0, 1.2)}
    rev = revenue_from_leads(fits, v.reset_index())[("A", "revenue")]
    assert rev.top == pytest.approx(10.0 * (600 + 0.5 * 400) / 1.5)
    assert (rev.k, rev.n) == (500.0, 1.2)
    assert rev.boot[:, 0] == pytest.approx(fits[("A", "conversions")].boot[:, 0] * rev.top / 10.0)


def test_recent_periods_are_scaled_by_their_completeness():
    from datetime import date

    # lookback 14 days: weeks up to June 10 are mature; their credit arrives 75% in the
    # touch week and 25% a week later -> CDF knots (0, 0), (7, .75), (14, 1)
    spend = pd.DataFrame(
        {
            "date": pd.date_range("2024-06-03", periods=28, freq="D"),
            "campaign_id": "a",
            "channel": "c",
            "spend": 1.0,
        }
    )
    credit = pd.DataFrame(
        {
            "conversion_type": "lead",
            "conversion_month": pd.Timestamp("2024-06-01"),
            "channel": "c",
            "period_start": pd.to_datetime(
                ["2024-06-03", "2024-06-03", "2024-06-17", "2024-06-24"]
            ),
            "lag_week": [0, 1, 0, 0],
            "conversion_credit": [6.0, 2.0, 7.0, 3.0],
            "value_credit": 0.0,
        }
    )
    model = pd.DataFrame(
        {
            "conversion_month": [pd.Timestamp("2024-06-01")],
            "conversion_type": ["lead"],
            "channel": ["c"],
            "model_conversions": [18.0],
            "model_revenue": [0.0],
        }
    )
    pts = period_points(spend, credit, model, date(2024, 6, 1), date(2024, 7, 1), 14, 0.5)
    conv = pts[pts["metric"] == "conversions"].set_index("period_start")
    # follow-up of the last week (June 24-30) is 3.5 days: .75 * 3.5 / 7
    assert conv.loc[date(2024, 6, 24), "completeness"] == pytest.approx(0.375)
    assert not conv.loc[date(2024, 6, 24), "used_in_fit"]
    assert conv.loc[date(2024, 6, 17), "completeness"] == pytest.approx(0.875)
    # model total 18 = timing 18 -> credit unchanged; June 17: 7 / .875
    assert conv.loc[date(2024, 6, 17), "outcome"] == pytest.approx(8.0)
    assert conv.loc[date(2024, 6, 3), "outcome"] == pytest.approx(8.0)
    days = period_points(
        spend, credit, model, date(2024, 6, 1), date(2024, 7, 1), 14, 0.5, grain="day"
    )
    # June 3-30: the spend export begins on June 3, so June 1-2 are unknown, not zero
    assert len(days[days["metric"] == "conversions"]) == 28
    assert days["spend"].sum() == pytest.approx(2 * 28.0)


def test_fixed_exponent_fit():
    from gtm_assets.analytics.response_curves import fit_hill

    rng = np.random.default_rng(1)
    s = rng.uniform(500, 8_000, 60)
    y = hill(s, 900.0, 3_000.0, 1.0) * (1 + rng.normal(0, 0.02, 60))
    fit = fit_hill(s, y, fit_adstock=False, n_boot=5, n_bounds=(1.0, 1.0))
    assert fit.n == 1.0 and (fit.boot[:, 2] == 1.0).all()
    assert fit.k == pytest.approx(3_000.0, rel=0.05)


def _values_world(c_values):
    rows = []
    for ch, vals in (("A", [0, 0, 300, 300]), ("B", [0, 600]), ("C", c_values)):
        rows += [(f"{ch}{i}", ch, 1.0, 400, float(x)) for i, x in enumerate(vals)]
    return pd.DataFrame(rows, columns=["lead_id", "channel", "credit", "age_days", "won_value"])


def test_lead_value_shrinkage_hand_computed():
    from gtm_assets.analytics.budget import lead_values

    no_lags = pd.DataFrame(columns=["lag_days", "lead_age_days", "value"])
    # raw values 150 (se 75), 300 (se 212.13), 60 (se 0); weighted mean 144; the spread
    # between channels (10476) is below the sampling noise (16875): all shrink to 144
    v = lead_values(_values_world([60] * 4), no_lags, 100, 0.3).set_index("channel")
    assert v["value_raw"].tolist() == pytest.approx([150.0, 300.0, 60.0])
    assert v["value_se"].tolist() == pytest.approx([75.0, np.sqrt(180_000) / 2, 0.0])
    assert v["value_per_lead"].tolist() == pytest.approx([144.0] * 3)
    # C at 1000: mean 520, tau^2 = 138566.67 - 16875 = 121691.67
    v = lead_values(_values_world([1000] * 4), no_lags, 100, 0.3).set_index("channel")
    tau2 = ((150 - 520) ** 2 + (300 - 520) ** 2 + (1000 - 520) ** 2) / 3 - 16875
    assert v.loc["A", "value_per_lead"] == pytest.approx(520 + tau2 / (tau2 + 75**2) * (150 - 520))
    assert v.loc["C", "value_per_lead"] == pytest.approx(1000.0)
    assert v.loc["B", "shrinkage"] > v.loc["A", "shrinkage"] > v.loc["C", "shrinkage"] == 0.0


def test_value_per_lead_uncertainty_reaches_the_gain_interval():
    """Lead curves times revenue per lead: with a value known exactly the move of money into
    display is a sure gain; when display's value rests on one large deal (its bootstrap
    draws swing between a fifth and three times the point value) the gain interval
    includes 0."""
    from gtm_assets.analytics.budget import revenue_from_leads

    lead_fits = {
        ("search", "conversions"): _fit(600, 20_000, 1.0),
        ("social", "conversions"): _fit(300, 3_000, 1.0),
        ("display", "conversions"): _fit(250, 6_000, 1.8),
    }
    values = pd.DataFrame(
        {"channel": ["search", "social", "display"], "value_per_lead": [100.0, 100.0, 100.0]}
    )
    swing = np.tile([20.0, 300.0], 25)
    sure = revenue_from_leads(lead_fits, values)
    unsure = revenue_from_leads(lead_fits, values, {"display": swing})
    assert unsure[("display", "revenue")].top == pytest.approx(sure[("display", "revenue")].top)
    np.testing.assert_allclose(
        unsure[("display", "revenue")].boot[:, 0],
        lead_fits[("display", "conversions")].boot[:, 0] * swing,
    )
    np.testing.assert_allclose(unsure[("search", "revenue")].boot, sure[("search", "revenue")].boot)
    # on the point curves (the default bootstrap-mean objective would value display at its
    # draws' mean, 160 a lead, and move more money into it)
    point = BudgetOptions(objective_curve="point")
    r_sure = reallocate(sure, CURRENT, {}, {}, DAYS, point)
    r_unsure = reallocate(unsure, CURRENT, {}, {}, DAYS, point)
    # same point recommendation (same point values) ...
    np.testing.assert_allclose(
        r_sure.table["recommended_spend"], r_unsure.table["recommended_spend"]
    )
    assert r_sure.table.set_index("channel").loc["display", "change"] > 0
    # ... but only the sure one is a sure gain
    assert r_sure.gain_ci[0] > 0
    assert r_unsure.gain_ci[0] < 0 < r_unsure.gain_ci[1]


def test_a_channel_the_plan_gives_nothing_is_held_at_zero():
    """An events month (30,000 on events) followed by a plan without events: the events
    money goes nowhere near events, and the rest of the plan's total is allocated."""
    current = {**CURRENT, "events": 30_000.0}
    planned = {"search": 45_000.0, "social": 30_000.0, "display": 25_000.0, "events": 0.0}
    r = reallocate(FITS, current, planned, {"events": 2.0}, DAYS, BudgetOptions())
    t = r.table.set_index("channel")
    assert t.loc["events", "recommended_spend"] == 0.0
    assert t.loc["events", "pinned_reason"] == "no budget in next month's plan: held at 0"
    assert t["recommended_spend"].sum() == pytest.approx(90_000.0)
    # the other channels keep their share of the allocatable 90,000 (40:30:30)
    assert t.loc["search", "reference_spend"] == pytest.approx(36_000.0)


def test_held_or_planned_amounts_beyond_anything_observed_are_said():
    """A held channel scaled far beyond its busiest week, and a plan far beyond it, get a
    note in the table (and the result's notes) instead of a silent straight-line guess."""
    unusable = CurveFit(
        np.nan,
        np.nan,
        np.nan,
        0.0,
        0.01,
        1.0,
        40,
        1_000.0,
        2_000.0,
        usable=False,
        reason="poor fit",
    )
    fits = {**FITS, ("video", "revenue"): unusable}
    current = {**CURRENT, "video": 8_000.0}
    planned = {"search": 60_000.0, "social": 40_000.0, "display": 40_000.0, "video": 60_000.0}
    r = reallocate(fits, current, planned, {"video": 1.5}, DAYS, BudgetOptions())
    t = r.table.set_index("channel")
    most = 2_000.0 * PERIODS
    held = t.loc["video", "recommended_spend"]
    # 200,000 budget, 180,000 allocatable, video's 8,000 of 108,000 current
    assert held == pytest.approx(180_000.0 * 8_000 / 108_000)
    note = t.loc["video", "note"]
    assert f"held at {held:,.0f}, {held / most:.1f}x the most it has spent" in note
    assert f"next month's plan puts it at 60,000, {60_000 / most:.1f}x" in note
    assert any(n.startswith("video: held at") for n in r.notes)
    assert t.loc[["search", "social", "display"], "note"].isna().all()


def test_capture_counts_a_channel_held_for_want_of_a_curve_against_the_recommendation():
    from gtm_assets.analytics.budget import evaluate_against_truth

    # true returns: A 2 per unit, B 1; A was held at its reference (no usable curve), so the
    # recommendation is the reference. Within the configured +-30% the true optimum moves 30
    # from B to A (+30): the capture is 0 / 30 = 0, not undefined
    realloc = pd.DataFrame(
        {
            "channel": ["A", "B"],
            "reference_spend": [100.0, 100.0],
            "recommended_spend": [100.0, 100.0],
            "lower_bound": [100.0, 70.0],
            "upper_bound": [100.0, 130.0],
            "pinned_reason": ["no usable response curve: poor fit (R^2 0.02 < 0.1)", None],
            "extrapolation_capped": [False, False],
        }
    )
    rate = {"A": 2.0, "B": 1.0}
    ev = evaluate_against_truth(realloc, lambda c, s: rate[c] * np.asarray(s), days=1)
    assert ev["achievable_uplift"] == pytest.approx(30.0, rel=1e-4)
    assert ev["capture"] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(ev["capture_within_own_bounds"])
    # a pin by configuration stays a pin
    pinned = realloc.assign(pinned_reason=["pinned by configuration", None])
    assert np.isnan(evaluate_against_truth(pinned, lambda c, s: rate[c] * s, days=1)["capture"])


def test_daily_design_hand_computed():
    spend = pd.DataFrame(
        {
            "date": ["2024-06-03", "2024-06-03", "2024-06-05", "2024-06-10", "2024-06-12"],
            "channel": ["events", "events", "events", "events", "search"],
            "spend": [100.0, 50.0, 20.0, 700.0, 9.0],
        }
    )
    starts = pd.Series([date(2024, 6, 3), date(2024, 6, 10)])
    got = daily_design(spend, "events", starts, 7)
    # a day's spend at the weekly rate (x7); same-day rows add up; missing days are zero
    want = np.zeros((2, 7))
    want[0, 0], want[0, 2], want[1, 0] = 150.0 * 7, 20.0 * 7, 700.0 * 7
    assert got == pytest.approx(want)
    assert got.mean(axis=1) == pytest.approx([170.0, 700.0])  # the weeks' spend


def _weekly_points_and_spend(pulsed: bool, seed: int = 4):
    """52 weeks of one channel: spend even inside the week, or in one-day pulses every
    other week; the true response saturates on the daily rate (daily K 2,000)."""
    rng = np.random.default_rng(seed)
    first = pd.Timestamp("2024-01-01")  # a Monday
    rows, points = [], []
    for w in range(52):
        total = rng.uniform(3_000, 40_000)
        daily = np.full(7, total / 7)
        if pulsed and w % 2:
            daily = np.zeros(7)
            daily[rng.integers(7)] = total
        start = first + pd.Timedelta(weeks=w)
        rows += [(start + pd.Timedelta(days=d), "events", daily[d]) for d in range(7)]
        y = period_response(daily[None, :] * 7, 5_000.0, 14_000.0, 1.0)[0]
        points.append(("events", "conversions", start.date(), total, y * rng.normal(1, 0.03)))
    spend = pd.DataFrame(rows, columns=["date", "channel", "spend"])
    pts = pd.DataFrame(points, columns=["channel", "metric", "period_start", "spend", "outcome"])
    pts["used_in_fit"] = True
    return pts, spend


def test_a_pulsed_channel_saturates_on_its_daily_rate_and_an_even_one_keeps_the_week():
    options = BudgetOptions(n_boot=0, adstock=False)
    pts, spend = _weekly_points_and_spend(pulsed=True)
    daily = fit_curves(pts, options, spend)[("events", "conversions")]
    weekly = fit_curves(pts, options)[("events", "conversions")]
    assert daily.saturation_grain == "day" and weekly.saturation_grain == "week"
    assert daily.k == pytest.approx(14_000.0, rel=0.08)
    assert daily.r2 > weekly.r2
    assert not BudgetOptions(within_period=False).within_period
    off = fit_curves(pts, BudgetOptions(n_boot=0, adstock=False, within_period=False), spend)
    assert off[("events", "conversions")].saturation_grain == "week"

    pts, spend = _weekly_points_and_spend(pulsed=False)
    even = fit_curves(pts, options, spend)[("events", "conversions")]
    # even spend inside every week: the two grains coincide and the week is kept
    assert even.saturation_grain == "week"
    assert even.k == pytest.approx(14_000.0, rel=0.08)


def test_flighting_shortfall_hand_computed():
    # weekly curve top 10, K 100, n 1, saturating on the day: a week spent in one day of
    # 700 (x = 4,900 at the weekly rate) earns mean(0 x6, 10 * 4900 / 5000) = 1.4 against
    # 10 * 700 / 800 = 8.75 spread evenly: a shortfall of 1 - 1.4 / 8.75 = 0.84
    fit = CurveFit(10.0, 100.0, 1.0, 0.0, 0.9, 1.0, 30, 50.0, 900.0, saturation_grain="day")
    pulse = np.array([0, 0, 0, 0, 0, 0, 700.0])
    assert flighting_shortfall(fit, pulse, 7) == pytest.approx(0.84)
    assert flighting_shortfall(fit, np.full(7, 100.0), 7) == pytest.approx(0.0)
    # carry-over smooths the burst: day by day at r = 0.5 ** (1/7), in the pattern's steady
    # state (the week repeated). One burst of 700 a week: on the burst day
    # x = 7 * 700 (1 - r) / (1 - r^7), then x r^t for the next six days; the even spread
    # stays at 700
    smoothed = CurveFit(10.0, 100.0, 1.0, 0.5, 0.9, 1.0, 30, 50.0, 900.0, saturation_grain="day")
    r = 0.5 ** (1 / 7)
    x = 7 * 700 * (1 - r) / (1 - r**7) * r ** np.arange(7)
    want = 1 - np.mean(10 * x / (x + 100)) / 8.75
    assert flighting_shortfall(smoothed, pulse, 7) == pytest.approx(want)
    # where in the month the burst falls does not matter: a burst on the 1st is not read as a
    # standing rate, one on the last day keeps the carryover it brings the days after it
    for day in range(6):
        moved = np.roll(pulse, day + 1)
        assert flighting_shortfall(smoothed, moved, 7) == pytest.approx(want, rel=1e-6)
    assert flighting_shortfall(smoothed, np.full(7, 100.0), 7) == pytest.approx(0.0)
    # a curve fitted on weekly totals says nothing about the days inside the week
    weekly = CurveFit(10.0, 100.0, 1.0, 0.0, 0.9, 1.0, 30, 50.0, 900.0, saturation_grain="week")
    assert np.isnan(flighting_shortfall(weekly, pulse, 7))
    assert np.isnan(flighting_shortfall(fit, np.zeros(7), 7))
