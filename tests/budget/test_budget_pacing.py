from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics.pacing import (
    campaign_month_plan,
    campaign_waste,
    lead_due_spend,
    lead_lag_curves,
    month_spend_to_end,
    pacing,
    pacing_schedule,
    triggers,
    weekday_profile,
)

JUNE, JULY = date(2024, 6, 1), date(2024, 7, 1)


def _daily():
    # campaign A (search): 100/day on June 1-7, 200/day June 8-10 -> data ends June 10
    rows = [
        (JUNE + timedelta(days=i), "A", "paid_search", 100.0 if i < 7 else 200.0) for i in range(10)
    ]
    # campaign B (social): 50/day June 1-10, and 500 in May (life-to-date)
    rows += [(JUNE + timedelta(days=i), "B", "paid_social", 50.0) for i in range(10)]
    rows.append((date(2024, 5, 20), "B", "paid_social", 500.0))
    return pd.DataFrame(rows, columns=["date", "campaign_id", "channel", "spend"])


def _campaigns():
    return pd.DataFrame(
        {
            "campaign_id": ["A", "B"],
            "channel": ["paid_search", "paid_social"],
            "start_date": [date(2024, 6, 16) - timedelta(days=15), date(2024, 5, 1)],
            "end_date": [date(2024, 7, 15), None],
            "planned_budget": [4500.0, 2000.0],
        }
    )


def test_campaign_month_plan_prorates_by_active_days():
    plan = campaign_month_plan(_campaigns(), JUNE, JULY)
    # A runs June 1 - July 15 (45 days), 30 of them in June: 4500 * 30 / 45
    assert plan["A"] == pytest.approx(3000.0)
    assert pd.isna(plan["B"])  # no end date: no month plan


def test_pacing_hand_computed():
    plan = pd.DataFrame({"channel": ["paid_search"], "planned_spend": [3000.0]})
    out = pacing(_daily(), _campaigns(), plan, JUNE, JULY, run_rate_days=7, tolerance=0.1)
    ch = out[(out["level"] == "channel") & (out["channel"] == "paid_search")].iloc[0]
    assert ch["as_of_date"] == date(2024, 6, 10)
    assert ch["mtd_spend"] == pytest.approx(1300.0)
    rr = (4 * 100 + 3 * 200) / 7
    assert ch["run_rate_daily"] == pytest.approx(rr)
    assert ch["projected_eom_spend"] == pytest.approx(1300 + 20 * rr)
    assert ch["pacing_ratio"] == pytest.approx((1300 + 20 * rr) / 3000)
    assert ch["status"] == "over"
    # (3000 - 1300) / 142.86 = 11.9 -> 12 days after June 10
    assert ch["run_out_date"] == date(2024, 6, 22)
    assert ch["plan_to_date"] == pytest.approx(1000.0)
    social = out[(out["level"] == "channel") & (out["channel"] == "paid_social")].iloc[0]
    assert social["status"] == "no_plan" and pd.isna(social["planned_spend"])
    camp_a = out[(out["level"] == "campaign") & (out["campaign_id"] == "A")].iloc[0]
    assert camp_a["planned_spend"] == pytest.approx(3000.0)
    assert camp_a["plan_source"] == "campaign_planned_budget"
    # lifetime: A spent 1300 of 4500 at 142.86/day -> 3200 / 142.86 = 22.4 -> July 3 (< July 15)
    assert camp_a["lifetime_budget_run_out_date"] == date(2024, 7, 3)
    camp_b = out[(out["level"] == "campaign") & (out["campaign_id"] == "B")].iloc[0]
    assert camp_b["lifetime_spend"] == pytest.approx(1000.0)
    # B: 1000 left at 50/day -> 20 days after June 10
    assert camp_b["lifetime_budget_run_out_date"] == date(2024, 6, 30)


def test_a_planned_channel_that_never_spends_is_the_worst_under_pace():
    plan = pd.DataFrame({"channel": ["paid_search", "video"], "planned_spend": [3000.0, 40_000.0]})
    out = pacing(_daily(), _campaigns(), plan, JUNE, JULY)
    video = out[(out["level"] == "channel") & (out["channel"] == "video")].iloc[0]
    assert video["mtd_spend"] == 0.0 and video["projected_eom_spend"] == 0.0
    assert video["pacing_ratio"] == 0.0 and video["status"] == "under"
    assert video["plan_to_date"] == pytest.approx(40_000.0 * 10 / 30)


def test_run_out_date_is_actual_day_when_plan_already_spent():
    plan = pd.DataFrame({"channel": ["paid_search"], "planned_spend": [650.0]})
    out = pacing(_daily(), _campaigns(), plan, JUNE, JULY)
    ch = out[(out["level"] == "channel") & (out["channel"] == "paid_search")].iloc[0]
    # cumulative: 100 ... 700 on June 7 (>= 650)
    assert ch["run_out_date"] == date(2024, 6, 7)


def test_a_trickle_of_spend_never_runs_out_and_never_overflows():
    """Valid input that once crashed the month: a campaign spending 0.01 a day against its
    budget (1,000 left: 100,000 days) and a channel plan of 1e308. Neither runs out: B has
    no end date and the run-out would lie beyond the ten-year horizon; the channel's would
    lie after the month."""
    daily = _daily()
    daily.loc[daily["campaign_id"] == "B", "spend"] = 0.0
    daily.loc[(daily["campaign_id"] == "B") & (daily["date"] == date(2024, 6, 10)), "spend"] = 0.07
    plan = pd.DataFrame({"channel": ["paid_search"], "planned_spend": [1e308]})
    campaigns = _campaigns().assign(planned_budget=[1e308, 1000.0])
    out = pacing(daily, campaigns, plan, JUNE, JULY, run_rate_days=7)
    camp_b = out[(out["level"] == "campaign") & (out["campaign_id"] == "B")].iloc[0]
    assert camp_b["run_rate_daily"] == pytest.approx(0.01)
    assert camp_b["lifetime_budget_run_out_date"] is None
    camp_a = out[(out["level"] == "campaign") & (out["campaign_id"] == "A")].iloc[0]
    assert camp_a["lifetime_budget_run_out_date"] is None
    ch = out[(out["level"] == "channel") & (out["channel"] == "paid_search")].iloc[0]
    assert ch["run_out_date"] is None


def test_schedule_follows_weekday_profile_and_sums():
    daily = pd.DataFrame(
        {
            # two weeks, Mondays spend 3, other days 1 -> Monday weight 3/9
            "date": [date(2024, 6, 3) + timedelta(days=i) for i in range(14)],
            "campaign_id": "A",
            "channel": "paid_search",
            "spend": [3.0 if i % 7 == 0 else 1.0 for i in range(14)],
        }
    )
    prof = weekday_profile(daily, date(2024, 6, 17), weeks=2)
    assert prof.loc[prof["weekday"] == 0, "weight"].iloc[0] == pytest.approx(3 / 9)
    sched = pacing_schedule(pd.Series({"paid_search": 900.0}), JULY, date(2024, 8, 1), prof)
    days = sched[sched["grain"] == "day"]
    weeks = sched[sched["grain"] == "week"]
    assert days["planned_spend"].sum() == pytest.approx(900.0)
    assert weeks["planned_spend"].sum() == pytest.approx(900.0)
    assert days["cumulative_planned_spend"].iloc[-1] == pytest.approx(900.0)
    # July 2024 has 5 Mondays and 26 other days: Monday share = 3 / (5*3 + 26)
    monday = days[days["period_start"] == date(2024, 7, 1)]["planned_spend"].iloc[0]
    assert monday == pytest.approx(900.0 * 3 / 41)
    assert weeks["period_start"].iloc[0] == JULY and len(weeks) == 5


def _perf():
    return pd.DataFrame(
        {
            "campaign_id": ["A", "B", "C", "D"],
            "campaign_name": ["a", "b", "c", "d"],
            "channel": ["paid_search", "display", "display", "paid_social"],
            "spend": [1000.0, 800.0, 100.0, 600.0],
            "clicks": [500, 300, 300, 100],
            "leads": [4.0, 0.0, 0.0, 10.0],
            "target_cpa": [200.0, None, None, 100.0],
            "cpa": [250.0, None, None, 60.0],
            "roas": [0.5, 0.0, 0.0, 3.0],
            "target_roas": [1.0, None, None, 2.0],
        }
    )


def test_campaign_waste_rules():
    """The month's lead tests, adjusted together (Benjamini-Hochberg over A, B, D and E; C
    spent too little to be tested):
    - A: CPA 250 on 4 leads where the 200 target implies 5, P(X <= 4 | 5) = 0.44: noise;
    - B: 3,000 on display without a lead; display has no lead this month, so the price is
      the account's, 14,700 / 34 leads = 432.35: 6.94 leads were due, P(0) = exp(-6.94)
      = 0.00097, adjusted 0.00097 x 4 / 2 = 0.0019;
    - D: on target (CPA 60 against 100), tested all the same: P(X <= 10 | 6) = 0.96;
    - E: 20 leads where the target implies 50, P = 1.6e-6, adjusted x 4 / 1."""
    from scipy import stats

    perf = pd.concat(
        [
            _perf().assign(spend=[1000.0, 3000.0, 100.0, 600.0]),
            pd.DataFrame(
                {
                    "campaign_id": ["E"],
                    "campaign_name": ["e"],
                    "channel": ["paid_search"],
                    "spend": [10_000.0],
                    "clicks": [2_000],
                    "leads": [20.0],
                    "target_cpa": [200.0],
                }
            ),
        ],
        ignore_index=True,
    )
    w = campaign_waste(perf, min_spend=500, min_clicks=100, cpa_tolerance=0.0)
    assert list(zip(w["kind"], w["scope_id"], strict=True)) == [
        ("no_conversions", "B"),
        ("cpa_above_target", "E"),
    ]
    e = w.set_index("scope_id").loc["E"]
    assert e["wasted_spend"] == pytest.approx(10_000 - 20 * 200)
    p_e = stats.poisson.cdf(20, 50)
    assert e["p_value"] == pytest.approx(p_e)
    assert e["p_value_adjusted"] == pytest.approx(p_e * 4)
    assert f"(Poisson p = {p_e:.2g}; {p_e * 4:.2g} across the month's tests)" in e["detail"]
    b = w.set_index("scope_id").loc["B"]
    price = 14_700 / 34
    assert b["wasted_spend"] == 3000.0
    assert b["p_value"] == pytest.approx(np.exp(-3000 / price))
    assert b["p_value_adjusted"] == pytest.approx(np.exp(-3000 / price) * 2)
    assert f"at the account's CPA this month ({price:,.2f}) 6.9 were due" in b["detail"]
    # at 800 the same campaign was due 1.9 leads (P(0) = 0.15): no evidence of waste
    small = campaign_waste(
        perf.assign(spend=[1000.0, 800.0, 100.0, 600.0, 10_000.0]),
        min_spend=500,
        min_clicks=100,
        cpa_tolerance=0.0,
    )
    assert "B" not in set(small["scope_id"])


def test_a_month_of_tests_is_adjusted_together():
    """X: 4 leads where its target implies 10, P(X <= 4 | 10) = 0.029. Tested alone it is
    waste; among three campaigns on target (P(X <= 10 | 10) = 0.58 each) Benjamini-Hochberg
    puts it at 0.029 x 4 / 1 = 0.12: one such p-value in four tests is not evidence."""
    from scipy import stats

    def campaign(cid: str, leads: float) -> dict:
        return {
            "campaign_id": cid,
            "campaign_name": cid,
            "channel": "paid_search",
            "spend": 1000.0,
            "clicks": 500,
            "leads": leads,
            "target_cpa": 100.0,
        }

    alone = campaign_waste(
        pd.DataFrame([campaign("X", 4.0)]), min_spend=500, min_clicks=100, cpa_tolerance=0.0
    )
    assert list(alone["scope_id"]) == ["X"]
    assert alone["p_value"].iloc[0] == pytest.approx(stats.poisson.cdf(4, 10))
    crowd = pd.DataFrame([campaign("X", 4.0)] + [campaign(f"T{i}", 10.0) for i in range(3)])
    assert campaign_waste(crowd, min_spend=500, min_clicks=100, cpa_tolerance=0.0).empty


def test_lead_lag_and_the_spend_whose_leads_are_due():
    """paid_search's 60 credits (30 at 0 days, 30 at 1) give it its own lag curve; display's
    20 are below 30, so it takes the pooled one: 40 / 30 / 10 of 80 at 0 / 1 / 2 days ->
    0.5, 0.875, 1 arrived after 1, 2, 3 days. A day's spend is taken at its middle."""
    lags = pd.DataFrame(
        {
            "channel": ["display", "display", "paid_search", "paid_search"],
            "lag_day": [0, 2, 0, 1],
            "credit": [10.0, 10.0, 30.0, 30.0],
        }
    )
    curves = lead_lag_curves(lags)
    assert set(curves) == {"", "paid_search"}
    np.testing.assert_allclose(curves[""], [0, 0.5, 0.875, 1.0])
    np.testing.assert_allclose(curves["paid_search"], [0, 0.5, 1.0, 1.0])
    daily = pd.DataFrame(
        {
            "date": [date(2024, 6, 29), date(2024, 6, 30), date(2024, 5, 31), date(2024, 6, 15)],
            "campaign_id": ["L", "L", "S", "S"],
            "channel": ["display", "display", "paid_search", "paid_search"],
            "spend": [100.0, 100.0, 100.0, 100.0],
        }
    )
    due = lead_due_spend(daily, curves, JUNE, JULY)
    # L: 29 June has 1.5 days to 1 July, F = 0.5 + 0.5 x 0.375; 30 June 0.5 days, F = 0.25
    assert due["L"] == pytest.approx(100 * 0.6875 + 100 * 0.25)
    # S: 31 May's leads after 0.5 days (F = 0.25) fell in May, the rest in June; 15 June all
    assert due["S"] == pytest.approx(100 * 0.75 + 100)
    # without any lag history: the month's own spend
    assert lead_due_spend(daily, {}, JUNE, JULY).to_dict() == {"L": 200.0, "S": 100.0}


def test_a_late_launch_is_judged_on_the_spend_whose_leads_are_due():
    """L launched on the 26th: 2,600 spent, no lead yet. On the month's spend display paid
    10,600 for 20 leads, 530 a lead: L was due 4.9 (P(0) = 0.0074). Its lag puts only 600 of
    its spend in the month: 8,600 / 20 = 430 a lead, 1.4 due, P(0) = 0.25: not waste yet.
    An events campaign before its event (EV, 10x its target CPA) is not judged at all."""
    perf = pd.DataFrame(
        {
            "month": [JUNE] * 3,
            "campaign_id": ["L", "S", "EV"],
            "campaign_name": ["l", "s", "ev"],
            "channel": ["display", "display", "events"],
            "spend": [2_600.0, 8_000.0, 20_000.0],
            "clicks": [1_000, 4_000, 300],
            "leads": [0.0, 20.0, 2.0],
            "target_cpa": [None, None, 1_000.0],
            "campaign_end_date": [None, None, date(2024, 7, 2)],
        }
    )
    judged_on_spend = campaign_waste(perf, min_spend=500, min_clicks=100, cpa_tolerance=0.0)
    assert list(judged_on_spend["scope_id"]) == ["L"]
    assert judged_on_spend["p_value"].iloc[0] == pytest.approx(np.exp(-2_600 / 530))
    due = perf.assign(lead_due_spend=[600.0, 8_000.0, 20_000.0])
    assert campaign_waste(due, min_spend=500, min_clicks=100, cpa_tolerance=0.0).empty
    # the detail says which spend was judged
    due_more = due.assign(lead_due_spend=[2_000.0, 8_000.0, 20_000.0])
    row = campaign_waste(due_more, min_spend=500, min_clicks=100, cpa_tolerance=0.0).iloc[0]
    assert row["scope_id"] == "L" and row["lead_due_spend"] == 2_000.0
    assert "judged on the 2,000 of spend whose leads are due this month" in row["detail"]


def test_triggers_fire_on_thresholds():
    pacing_rows = pd.DataFrame(
        {
            "level": ["channel"],
            "channel": ["display"],
            "campaign_id": [None],
            "pacing_ratio": [1.25],
        }
    )
    marg = pd.DataFrame({"channel": ["display", "paid_search"], "marginal_roas": [0.6, 2.5]})
    t = triggers(_perf(), pacing_rows, marg, cpa_over=0.2, roas_under=0.2, min_spend=500)
    fired = t[t["fired"]].set_index(["rule", "scope_id"])
    assert ("cpa_above_target", "A") in fired.index  # 250 > 240
    assert ("roas_below_target", "A") in fired.index  # 0.5 < 0.8
    assert ("over_pacing", "display") in fired.index
    assert ("saturated", "display") in fired.index
    assert ("headroom", "paid_search") in fired.index
    assert not t[(t["rule"] == "cpa_above_target") & (t["scope_id"] == "D")]["fired"].any()
    assert "C" not in set(t["scope_id"])  # below min_spend


def test_the_cpa_trigger_reads_the_spend_whose_leads_are_due():
    """A launched on the 26th: 1,000 spent, 4 leads, CPA 250 against 200 (limit 240), but
    only 600 of the spend has had time to bring leads this month: 150 a lead, no fire. D
    spent 600 steadily, all of it due, 10 leads: 60 against a limit of 120, no fire either.
    Without lead-due spend the trigger reads the month's CPA (A fires, as above)."""
    empty = pd.DataFrame(columns=["level", "channel", "campaign_id", "pacing_ratio"])
    marginal = pd.DataFrame(columns=["channel", "marginal_roas"])
    perf = _perf().assign(lead_due_spend=[600.0, 800.0, 100.0, 600.0])
    t = triggers(perf, empty, marginal, cpa_over=0.2, min_spend=500)
    cpa = t[t["rule"] == "cpa_above_target"].set_index("scope_id")
    assert cpa.loc["A", "value"] == pytest.approx(150.0)
    assert cpa.loc["A", "threshold"] == pytest.approx(240.0)
    assert not cpa["fired"].any()
    assert cpa.loc["D", "value"] == pytest.approx(60.0)
    # B spent 800 without a lead: no CPA to judge (the waste list's no-lead test covers it)
    assert "B" not in cpa.index
    # a row without lead-due spend (no lag history) falls back to the month's CPA
    fallback = perf.assign(lead_due_spend=[np.nan, 800.0, 100.0, 600.0])
    t = triggers(fallback, empty, marginal, cpa_over=0.2, min_spend=500)
    row = t[(t["rule"] == "cpa_above_target") & (t["scope_id"] == "A")].iloc[0]
    assert row["value"] == pytest.approx(250.0) and row["fired"]
    # an events campaign before its event (flight ends after June): overridden, not fired
    event = fallback.assign(
        channel=["events", "display", "display", "paid_social"],
        month=[date(2024, 6, 1)] * 4,
        campaign_end_date=[date(2024, 7, 15), None, None, None],
    )
    t = triggers(event, empty, marginal, cpa_over=0.2, min_spend=500)
    row = t[(t["rule"] == "cpa_above_target") & (t["scope_id"] == "A")].iloc[0]
    assert not row["fired"] and row["overridden_by"].startswith("an events campaign before")
    ended = event.assign(campaign_end_date=[date(2024, 6, 20), None, None, None])
    t = triggers(ended, empty, marginal, cpa_over=0.2, min_spend=500)
    assert t[(t["rule"] == "cpa_above_target") & (t["scope_id"] == "A")]["fired"].iloc[0]


def test_channel_rules_defer_to_the_reallocation():
    """paid_search returns 2.5 at the margin (headroom) but the reallocation cuts it (others
    return more); display is saturated and the reallocation cuts it too: only the rule that
    agrees fires, the other says what overrides it."""
    marg = pd.DataFrame({"channel": ["display", "paid_search"], "marginal_roas": [0.6, 2.5]})
    t = triggers(
        _perf(),
        pd.DataFrame(columns=["level", "channel", "campaign_id", "pacing_ratio"]),
        marg,
        min_spend=500,
        recommended_change={"paid_search": -1200.0, "display": -300.0},
    ).set_index(["rule", "scope_id"])
    assert t.loc[("saturated", "display"), "fired"]
    assert pd.isna(t.loc[("saturated", "display"), "overridden_by"])
    headroom = t.loc[("headroom", "paid_search")]
    assert not headroom["fired"] and pd.isna(headroom["action"])
    assert headroom["overridden_by"].startswith("budget_reallocation moves money out")


def test_month_spend_projected_to_the_end_of_a_partial_month():
    """Data end on 10 June (20 days left): search ran 200/day over the last 7 days' window
    (100 x 4 + 200 x 3 = 1,000 / 7), so 1,300 to date + 20 x 1,000/7; social 500 + 20 x 50."""
    spend, note = month_spend_to_end(_daily(), JUNE, JULY)
    assert spend["paid_search"] == pytest.approx(1300 + 20 * 1000 / 7)
    assert spend["paid_social"] == pytest.approx(500 + 20 * 50)
    assert "ends on 2024-06-10, 20 days before the month's end" in note
    # the month's last full day present (or all but one quiet day): the month's own spend
    daily = _daily()
    full = pd.concat(
        [daily, daily.assign(date=daily["date"] + timedelta(days=19))], ignore_index=True
    )
    spend, note = month_spend_to_end(full, JUNE, JULY)
    assert note is None
    assert spend["paid_search"] == pytest.approx(2 * 1300)


def test_revenue_decides_between_cpa_and_roas():
    """PS03: CPA 830 against 440, but ROAS 6.8 against a 2.0 target (its leads close): no
    waste. SO05: CPA 60 against 300, but 1 opportunity from 200 leads in three months where
    the account's 10% per lead implies 20: its leads rarely close. EV06: ROAS 0 over three
    months on 60,000 where the 2.0 target at a 15,000 average deal implies 8 won deals: waste
    (P(0 | 8) = 0.0003, below 0.05 / 5 campaigns tested). EV07: the same on 9,000 (1.2 deals
    due): too little to judge."""
    perf = pd.DataFrame(
        {
            "campaign_id": ["PS03", "SO05", "EV06", "EV07", "REST"],
            "campaign_name": ["ps03", "so05", "ev06", "ev07", "rest"],
            "channel": ["paid_search", "paid_social", "events", "events", "paid_search"],
            "spend": [16_600.0, 4_000.0, 20_000.0, 3_000.0, 50_000.0],
            "clicks": [900, 3_000, 500, 500, 9_000],
            "leads": [20.0, 66.0, 8.0, 3.0, 500.0],
            "target_cpa": [440.0, 300.0, None, None, None],
            "roas": [6.84, 0.05, 0.0, 0.0, 2.5],
            "target_roas": [2.0, 2.0, 2.0, 2.0, None],
            "attributed_revenue": [16_600.0 * 6.84, 200.0, 0.0, 0.0, 125_000.0],
            "spend_3m": [50_000.0, 12_000.0, 60_000.0, 9_000.0, 150_000.0],
            "leads_3m": [60.0, 200.0, 24.0, 9.0, 1_507.0],
            "opportunities_3m": [18.0, 1.0, 2.0, 1.0, 159.0],
            "customers_3m": [20.0, 0.0, 0.0, 0.0, 20.0],
            "revenue_3m": [300_000.0, 0.0, 0.0, 0.0, 300_000.0],
        }
    )
    # account: 181 opportunities / 1,800 leads = 10.06%; 600,000 / 40 deals = 15,000 a deal
    w = campaign_waste(perf, min_spend=500, min_clicks=100, cpa_tolerance=0.2).set_index("scope_id")
    assert "PS03" not in w.index and "EV07" not in w.index and "REST" not in w.index
    so = w.loc["SO05"]
    rate = 181 / 1_800
    assert so["kind"] == "leads_rarely_close"
    assert so["wasted_spend"] == pytest.approx(4_000.0 * (1 - (1 / 200) / rate))
    assert "(Poisson p = " in so["detail"]
    ev = w.loc["EV06"]
    assert ev["kind"] == "roas_below_target"
    assert ev["wasted_spend"] == pytest.approx(20_000.0)
    assert "about 8.0 won deals were due at the average deal and the target" in ev["detail"]
    # a young account (deals have not closed yet for anyone): the bar is the account's own
    # three-month ROAS, and nothing is due that did not come
    young = perf.assign(revenue_3m=[5_000.0, 0, 0, 0, 5_000.0], customers_3m=[1.0, 0, 0, 0, 1.0])
    flagged = campaign_waste(young, min_spend=500, min_clicks=100, cpa_tolerance=0.2)
    assert "roas_below_target" not in set(flagged["kind"])
    from gtm_assets.analytics import insights as ins

    text = ins.waste_actions(w.reset_index().loc[lambda d: d.scope_id == "SO05"], "USD")[0]
    assert text["action"].startswith(
        "Cut budget on 'so05' (paid_social): its leads are cheap (CPA USD 61 against a USD 300 "
        "target) but they rarely become pipeline: 1.0 opportunities from 200.0 leads over "
        "three months where the account's 10.1% implies 20.1"
    )
    assert text["action"].endswith("would have turned into pipeline.")


def test_a_cpa_trigger_gives_way_to_a_roas_on_target():
    from gtm_assets.analytics.pacing import triggers

    perf = pd.DataFrame(
        {
            "campaign_id": ["PS03"],
            "channel": ["paid_search"],
            "spend": [16_600.0],
            "cpa": [830.0],
            "target_cpa": [440.0],
            "roas": [6.84],
            "target_roas": [2.0],
        }
    )
    empty = pd.DataFrame(columns=["level", "channel", "campaign_id", "pacing_ratio"])
    marginal = pd.DataFrame(columns=["channel", "marginal_roas"])
    out = triggers(perf, empty, marginal).set_index("rule")
    assert not out.loc["cpa_above_target", "fired"]
    assert out.loc["cpa_above_target", "overridden_by"].startswith("its ROAS meets its target")
    assert not out.loc["roas_below_target", "fired"]


def _development() -> pd.DataFrame:
    """Opportunities by lead month and age, seen at the end of June 2024: March's cohort
    10 / 5 / 5 at ages 0 / 1 / 2; April's 8 / 4; May's 6; June's 3."""
    rows = [
        ("2024-03-01", 0, 10),
        ("2024-03-01", 1, 5),
        ("2024-03-01", 2, 5),
        ("2024-04-01", 0, 8),
        ("2024-04-01", 1, 4),
        ("2024-05-01", 0, 6),
        ("2024-06-01", 0, 3),
    ]
    return pd.DataFrame(rows, columns=["lead_month", "age_months", "conversions"]).assign(
        lead_month=lambda d: pd.to_datetime(d["lead_month"])
    )


def test_lead_cohort_completeness_is_the_chain_ladder():
    """Age 0 -> 1 over March-May (observed at 1+): (15 + 12 + 6) / (10 + 8 + 6) = 33/24;
    1 -> 2 over March-April: (20 + 12) / (15 + 12) = 32/27; 2 -> 3 over March: 20/20; no
    cohort is older. F(0) = 1 / (33/24 x 32/27) = 27/44, F(1) = 27/32, F(2..) = 1."""
    from gtm_assets.analytics.pacing import lead_cohort_completeness

    f = lead_cohort_completeness(_development(), JUNE, max_age=4)
    assert f == pytest.approx([27 / 44, 27 / 32, 1.0, 1.0, 1.0])
    # no history at all: every lead's opportunities are taken as due at once
    empty = pd.DataFrame(columns=["lead_month", "age_months", "conversions"])
    assert lead_cohort_completeness(empty, JUNE, max_age=2) == pytest.approx([1.0, 1.0, 1.0])
    # won deals never close in their lead's month: nothing is due at age 0. Cumulative by
    # age 0 / 1 / 2: March 0 / 4 / 6, April 0 / 2 / 2 (both seen at age 2 by June's end):
    # F(2) = 6 / 6 over March, F(1) = (4 + 2) / (6 + 2), F(0) = 0 / 6
    won = pd.DataFrame(
        [("2024-03-01", 1, 4), ("2024-03-01", 2, 2), ("2024-04-01", 1, 2)],
        columns=["lead_month", "age_months", "conversions"],
    ).assign(lead_month=lambda d: pd.to_datetime(d["lead_month"]))
    f = lead_cohort_completeness(won, JUNE, max_age=3)
    assert f == pytest.approx([0.0, 3 / 4, 1.0, 1.0])


def test_leads_weighed_by_the_opportunities_due_in_the_window():
    """With F = 27/44, 27/32, 1: a campaign launched in June owes F(0) of its 100 leads'
    opportunities; a steady 100 leads a month since January owes exactly its 300 leads in
    the window (ages 5..0: 0 + (1 - 27/32) + (1 - 27/44) + 1 + 27/32 + 27/44 = 3)."""
    from gtm_assets.analytics.pacing import due_in_window

    f = np.array([27 / 44, 27 / 32, 1.0, 1.0, 1.0])
    months = pd.date_range("2024-01-01", "2024-06-01", freq="MS")
    lead_months = pd.concat(
        [
            pd.DataFrame({"campaign_id": "LAUNCH", "month": [months[-1]], "leads": [100.0]}),
            pd.DataFrame({"campaign_id": "STEADY", "month": months, "leads": 100.0}),
        ]
    )
    e = due_in_window(lead_months, JUNE, f, "leads")
    assert e["LAUNCH"] == pytest.approx(100 * 27 / 44)
    assert e["STEADY"] == pytest.approx(300.0)


def test_a_launch_is_judged_on_the_opportunities_its_young_leads_owe():
    """LAUNCH: 600 leads this month and 50 opportunities. Against the account's plain
    ratio (650 / 3,600 per lead: 108 due) that is less than half: flagged. At its leads'
    age it owes 0.193 x 368 = 71 (the account: 650 opportunities / (3,000 + 368) effective
    leads): 50 is not half of that, no waste. BAD: the same launch with 5 opportunities is
    waste either way, and says it is judged at its leads' ages."""
    f0 = 27 / 44
    perf = pd.DataFrame(
        {
            "campaign_id": ["LAUNCH", "REST"],
            "campaign_name": ["launch", "rest"],
            "channel": ["paid_search", "paid_social"],
            "spend": [30_000.0, 90_000.0],
            "clicks": [5_000, 20_000],
            "leads": [600.0, 1_000.0],
            "target_cpa": [None, None],
            "roas": [None, None],
            "target_roas": [None, None],
            "attributed_revenue": [0.0, 0.0],
            "spend_3m": [30_000.0, 270_000.0],
            "leads_3m": [600.0, 3_000.0],
            "opportunities_3m": [50.0, 600.0],
            "customers_3m": [0.0, 60.0],
            "revenue_3m": [0.0, 600_000.0],
        }
    )
    plain = campaign_waste(perf, min_spend=500, min_clicks=100, cpa_tolerance=0.2)
    assert list(plain["scope_id"]) == ["LAUNCH"]
    aged = perf.assign(effective_leads_3m=[600 * f0, 3_000.0])
    assert campaign_waste(aged, min_spend=500, min_clicks=100, cpa_tolerance=0.2).empty
    bad = aged.assign(opportunities_3m=[5.0, 600.0])
    w = campaign_waste(bad, min_spend=500, min_clicks=100, cpa_tolerance=0.2).iloc[0]
    rate = 605 / (3_000 + 600 * f0)
    assert w["kind"] == "leads_rarely_close"
    assert w["threshold"] == pytest.approx(rate * f0)
    assert w["wasted_spend"] == pytest.approx(30_000 * (1 - 5 / (rate * 600 * f0)))
    assert f"where the account's {rate:.1%} at these leads' ages implies" in w["detail"]


def test_effective_leads_from_the_warehouse():
    """The two SQL reads behind ``effective_leads_3m``: March's 4 leads make 2
    opportunities in March and 1 in April, and one dated before its lead counts at age 0,
    so F(0) = 3/4 and F(1..) = 1. In the window April-June, June's launch (10 leads) owes
    F(0) of its leads, March's 4 leads F(3) - F(0); a campaign without lead history none."""
    import duckdb

    from gtm_assets.assets.budget import _with_due_in_window

    con = duckdb.connect()
    con.execute("create schema intermediate; create schema marts")
    rows = [(f"lead:{i}", "lead", f"L{i}", "2024-03-10") for i in range(4)]
    rows += [
        ("opportunity:a", "opportunity", "L0", "2024-03-20"),
        ("opportunity:b", "opportunity", "L1", "2024-03-25"),
        ("opportunity:c", "opportunity", "L2", "2024-04-05"),
        ("opportunity:d", "opportunity", "L3", "2024-02-05"),  # before its lead: age 0
    ]
    conversions = pd.DataFrame(
        rows, columns=["conversion_id", "conversion_type", "lead_id", "converted_at"]
    ).assign(converted_at=lambda d: pd.to_datetime(d["converted_at"]))
    performance = pd.DataFrame(
        {
            "campaign_id": ["LAUNCH", "OLD", "OLD"],
            "month": pd.to_datetime(["2024-06-01", "2024-03-01", "2024-06-01"]).date,
            "leads": [10.0, 4.0, None],
            "spend": [5_000.0, 2_000.0, None],
        }
    )
    con.register("conversions_df", conversions)
    con.register("performance_df", performance)
    con.execute("create table intermediate.conversions as select * from conversions_df")
    con.execute("create table marts.campaign_performance as select * from performance_df")
    perf = pd.DataFrame({"campaign_id": ["LAUNCH", "OLD", "NEW"]})
    out = _with_due_in_window(con, perf, JUNE).set_index("campaign_id")
    leads = out["effective_leads_3m"]
    # March's cohort: 3 opportunities at age 0, 4 by age 1: F(0) = 3/4, F(1..) = 1
    assert leads["LAUNCH"] == pytest.approx(10 * 0.75)
    # March's leads are 3 months old: their opportunities after age 0 fall in April-June
    assert leads["OLD"] == pytest.approx(4 * (1.0 - 0.75))
    assert leads["NEW"] == 0.0
    # no won deal yet: no lag measured, each month's spend is due at once (in the window
    # for June's, before it for March's)
    assert out["won_due_spend_3m"].to_dict() == {"LAUNCH": 5_000.0, "OLD": 0.0, "NEW": 0.0}


def test_a_launch_owes_revenue_only_on_the_spend_whose_deals_are_due():
    """LAUNCH spent 100,000 this month and has no revenue yet. At the 2.0 target and a
    15,000 average deal, 13.3 won deals would be due if all its spend counted (P(0) =
    1.6e-6: waste); with 10% of a lead's won deals closing in its first month only 10,000
    of the spend is due, 1.3 deals (P(0) = 0.26): not waste. OLD, winding down, spent
    10,000 in the window but 90,000 of spend is due there, and returned 30,000: waste,
    said to be judged on that spend."""
    perf = pd.DataFrame(
        {
            "campaign_id": ["LAUNCH", "OLD", "REST"],
            "campaign_name": ["launch", "old", "rest"],
            "channel": ["paid_search", "display", "paid_social"],
            "spend": [100_000.0, 2_000.0, 90_000.0],
            "clicks": [5_000, 500, 20_000],
            "leads": [500.0, 5.0, 1_000.0],
            "target_cpa": [None, None, None],
            "roas": [0.0, 0.5, 3.0],
            "target_roas": [2.0, 2.0, 2.0],
            "attributed_revenue": [0.0, 1_000.0, 270_000.0],
            "spend_3m": [100_000.0, 10_000.0, 270_000.0],
            "leads_3m": [500.0, 40.0, 3_000.0],
            "opportunities_3m": [60.0, 10.0, 600.0],
            "customers_3m": [0.0, 2.0, 52.0],
            "revenue_3m": [0.0, 30_000.0, 780_000.0],
        }
    )
    plain = campaign_waste(perf, min_spend=500, min_clicks=100, cpa_tolerance=0.2)
    assert set(plain["scope_id"]) == {"LAUNCH"}
    due = perf.assign(won_due_spend_3m=[10_000.0, 90_000.0, 270_000.0])
    w = campaign_waste(due, min_spend=500, min_clicks=100, cpa_tolerance=0.2).set_index("scope_id")
    assert "LAUNCH" not in w.index and "REST" not in w.index
    old = w.loc["OLD"]
    assert old["kind"] == "roas_below_target"
    # account: 810,000 / 54 won deals = 15,000 a deal; 90,000 x 2.0 / 15,000 = 12 due
    assert "about 12.0 won deals were due" in old["detail"]
    assert old["detail"].startswith(
        "ROAS 0.50 this month; 0.33 over three months on the 90,000 of spend whose leads' "
        "deals were due in them (of 10,000 spent) vs target 2.00"
    )


def test_the_roas_trigger_waits_for_a_launch_s_deals():
    """Both campaigns return ROAS 0.2 against a 2.0 target this month; LAUNCH's three
    months' spend has only 10% of its deals due yet, STEADY's all: only STEADY fires."""
    perf = pd.DataFrame(
        {
            "campaign_id": ["LAUNCH", "STEADY"],
            "channel": ["paid_search", "display"],
            "spend": [50_000.0, 50_000.0],
            "cpa": [None, None],
            "target_cpa": [None, None],
            "roas": [0.2, 0.2],
            "target_roas": [2.0, 2.0],
            "spend_3m": [50_000.0, 150_000.0],
            "won_due_spend_3m": [5_000.0, 150_000.0],
        }
    )
    empty = pd.DataFrame(columns=["level", "channel", "campaign_id", "pacing_ratio"])
    marginal = pd.DataFrame(columns=["channel", "marginal_roas"])
    out = triggers(perf, empty, marginal).set_index(["rule", "scope_id"])
    assert out.loc[("roas_below_target", "STEADY"), "fired"]
    launch = out.loc[("roas_below_target", "LAUNCH")]
    assert not launch["fired"]
    assert launch["overridden_by"].startswith(
        "its leads are young: the deals of only 10% of its three months' spend are due yet"
    )


def test_an_event_is_not_judged_before_it_happens():
    """EV: an events campaign whose event is on 7 February collects 90 registrations in
    January and no opportunity yet; judged in January it would be waste (the account's
    20% implies 18). In January it is not judged; in February (the flight over) it is."""
    perf = pd.DataFrame(
        {
            "month": [date(2026, 1, 1)] * 2,
            "campaign_id": ["EV", "REST"],
            "campaign_name": ["ev", "rest"],
            "channel": ["events", "paid_search"],
            "campaign_end_date": [date(2026, 2, 7), None],
            "spend": [20_000.0, 90_000.0],
            "clicks": [500, 20_000],
            "leads": [90.0, 1_000.0],
            "target_cpa": [None, None],
            "roas": [None, None],
            "target_roas": [None, None],
            "attributed_revenue": [0.0, 0.0],
            "spend_3m": [20_000.0, 270_000.0],
            "leads_3m": [90.0, 3_000.0],
            "opportunities_3m": [0.0, 618.0],
            "customers_3m": [0.0, 60.0],
            "revenue_3m": [0.0, 600_000.0],
        }
    )
    assert campaign_waste(perf, min_spend=500, min_clicks=100, cpa_tolerance=0.2).empty
    after = perf.assign(month=[date(2026, 2, 1)] * 2)
    w = campaign_waste(after, min_spend=500, min_clicks=100, cpa_tolerance=0.2)
    assert list(w["scope_id"]) == ["EV"] and w.iloc[0]["kind"] == "leads_rarely_close"


def test_channel_triggers_read_the_reallocation_s_marginal_roas():
    """paid_search: the point fit says 0.9 at the margin, the reallocation's (mean) curve
    1.2: the trigger reads 1.2. display has no reallocation curve (held at its average
    return): the point fit's 0.7 stands. email only in the reallocation: 3.0."""
    from gtm_assets.assets.budget import decision_marginals

    curves = pd.DataFrame({"channel": ["paid_search", "display"], "marginal_roas": [0.9, 0.7]})
    realloc = pd.DataFrame(
        {
            "channel": ["paid_search", "display", "email"],
            "delta": [100.0, 0.0, -50.0],
            "marginal_roas_current": [1.2, np.nan, 3.0],
        }
    )
    out = decision_marginals(curves, realloc).set_index("channel")["marginal_roas"]
    assert out.to_dict() == {"display": 0.7, "email": 3.0, "paid_search": 1.2}


def test_lead_due_spend_from_the_warehouse():
    """budget_lead_lags.sql + the spend read, 10-day lookback at the end of June: P1's lead
    (3 May, 22:00) splits over display 2.5 days and paid search 1.5 days before it, P3's
    (10 May) is display 6 hours after (its April touch is outside the lookback), P2's touch
    is too recent to have a complete lookback. Pooled (each channel is below 30 credits):
    1 / 0.5 / 0.5 at 0 / 1 / 2 days -> 0.5, 0.75, 1 arrived. L's 100 on 30 June has half a
    day: 25 due; S's 31 May spend brings 75 into June, its 10 June spend all 100; OLD spent
    on 1 May: nothing due in June."""
    import duckdb

    from gtm_assets.assets.budget import _lead_due_spend

    con = duckdb.connect()
    con.execute("create schema staging; create schema intermediate")
    con.execute(
        "create table intermediate.conversions as select * from (values "
        "('lead:1', 'lead', 'P1', timestamp '2024-05-03 22:00'), "
        "('lead:2', 'lead', 'P2', timestamp '2024-06-26 10:00'), "
        "('lead:3', 'lead', 'P3', timestamp '2024-05-10 06:00')) "
        "as c(conversion_id, conversion_type, person_id, converted_at)"
    )
    con.execute(
        "create table staging.touchpoints as select * from (values "
        "('P1', timestamp '2024-05-01 10:00', 'display'), "
        "('P1', timestamp '2024-05-02 10:00', 'paid_search'), "
        "('P2', timestamp '2024-06-25 10:00', 'paid_search'), "
        "('P3', timestamp '2024-04-01 10:00', 'display'), "
        "('P3', timestamp '2024-05-10 00:00', 'display')) as t(person_id, ts, channel)"
    )
    con.execute(
        "create table staging.ad_spend as select * from (values "
        "(date '2024-06-30', 'L', 'display', 100.0, 10, 100), "
        "(date '2024-05-31', 'S', 'paid_search', 100.0, 10, 100), "
        "(date '2024-06-10', 'S', 'paid_search', 100.0, 10, 100), "
        "(date '2024-05-01', 'OLD', 'display', 100.0, 10, 100)) "
        "as s(date, campaign_id, channel, spend, clicks, impressions)"
    )
    due = _lead_due_spend(con, JUNE, JULY, 10)
    assert due["lead_due_spend"].to_dict() == pytest.approx({"L": 25.0, "S": 175.0, "OLD": 0.0})
    # three months: summed over the months campaign performance holds for the campaign
    # (S: May's 25 + June's 175; OLD only in May, all of its 1 May spend due then)
    con.execute("create schema marts")
    con.execute(
        "create table marts.campaign_performance as select * from (values "
        "('S', date '2024-05-01', 1.0, 100.0), ('S', date '2024-06-01', 1.0, 100.0), "
        "('L', date '2024-06-01', 0.0, 100.0), ('OLD', date '2024-05-01', 1.0, 100.0), "
        "('OLD', date '2024-02-01', 1.0, 100.0)) as p(campaign_id, month, leads, spend)"
    )
    due = _lead_due_spend(con, JUNE, JULY, 10)
    assert due["lead_due_spend_3m"].to_dict() == pytest.approx(
        {"L": 25.0, "S": 200.0, "OLD": 100.0}
    )


def test_cpa_evidence_pools_three_months():
    """N (target 300) bought 1 lead for 1,800 this month, P(X <= 1 | 6) = 0.017: among three
    on-target campaigns that is 0.069 adjusted, not enough. Over three months it bought 3
    for 5,400 where 18 were due, P(X <= 3 | 18) = 1.8e-5, 3.5e-5 for taking the stronger of
    two looks: clear. B paid 450 a lead this month (P(X <= 4 | 6) = 0.29) but 318 over three
    months, 17 leads where 18 were due (P = 0.47): not waste."""
    from scipy import stats

    def campaign(cid: str, leads: float, leads_3m: float | None, spend_3m: float | None):
        return {
            "campaign_id": cid,
            "campaign_name": cid,
            "channel": "paid_search",
            "spend": 1_800.0,
            "clicks": 500,
            "leads": leads,
            "target_cpa": 300.0,
            "leads_3m": leads_3m,
            "lead_due_spend_3m": spend_3m,
        }

    on_target = [campaign(f"T{i}", 6.0, 18.0, 5_400.0) for i in range(3)]
    monthly = pd.DataFrame([campaign("N", 1.0, None, None)] + on_target)
    assert campaign_waste(monthly, min_spend=500, min_clicks=100, cpa_tolerance=0.0).empty
    pooled = pd.DataFrame(
        [campaign("N", 1.0, 3.0, 5_400.0), campaign("B", 4.0, 17.0, 5_400.0)] + on_target
    )
    w = campaign_waste(pooled, min_spend=500, min_clicks=100, cpa_tolerance=0.0)
    assert list(w["scope_id"]) == ["N"]
    n = w.iloc[0]
    assert n["p_value"] == pytest.approx(2 * stats.poisson.cdf(3, 18))
    assert n["value"] == 1_800.0 and n["wasted_spend"] == 1_800.0 - 300.0
    assert n["detail"].startswith(
        "CPA 1,800.00 this month (1,800.00 over three months) vs target 300.00: 3.0 leads "
        "credited over three months where the target implies 18.0"
    )
