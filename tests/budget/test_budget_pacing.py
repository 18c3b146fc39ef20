from datetime import date, timedelta

import pandas as pd
import pytest

from gtm_assets.analytics.pacing import (
    campaign_month_plan,
    campaign_waste,
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
    from scipy import stats

    perf = pd.concat(
        [
            _perf(),
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
    # A: CPA 250 on 4 leads where the 200 target implies 5 (P(X <= 4 | 5) = 0.44): noise.
    # E: 20 leads where the target implies 50: clearly over.
    assert list(zip(w["kind"], w["scope_id"], strict=True)) == [
        ("no_conversions", "B"),
        ("cpa_above_target", "E"),
    ]
    e = w.set_index("scope_id").loc["E"]
    assert e["wasted_spend"] == pytest.approx(10_000 - 20 * 200)
    assert f"(Poisson p = {stats.poisson.cdf(20, 50):.2g})" in e["detail"]
    assert w.set_index("scope_id").loc["B", "wasted_spend"] == 800.0
    # C has no lead but only 100 spend: below the volume threshold


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
