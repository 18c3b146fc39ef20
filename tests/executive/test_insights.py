"""Insights and actions on constructed months where the right answer is known."""

from datetime import date

import pandas as pd
import pytest

from gtm_assets.analytics import insights as ins

MONTH = date(2025, 6, 1)


def summary(**values) -> pd.DataFrame:
    base = dict(
        spend=(100_000, 120_000, 90_000),
        revenue=(400_000, 500_000, 380_000),
        leads=(400, None, 300),
        sqls=(100, None, 80),
        customers=(10, 12, 8),
        roas=(4.0, None, 4.2),
        mqls=(200, None, 100),
    )
    base.update(values)
    rows = []
    for metric, (value, target, prior) in base.items():
        change = None if not prior else 100 * (value - prior) / prior
        rows.append(
            dict(metric=metric, value=value, target=target, prior_month=prior, change_pct=change)
        )
    return pd.DataFrame(rows)


def bottlenecks() -> pd.DataFrame:
    """A planted bottleneck: mql -> sql fell from 40% to 25%, worst in paid_social."""
    common = dict(
        from_stage="mql",
        to_stage="sql",
        cohort_month=pd.Timestamp("2025-04-01"),
        target_rate=None,
        p_adj_vs_target=None,
        short_of="baseline",
    )
    return pd.DataFrame(
        [
            dict(
                common,
                segment_type="all",
                segment="all",
                entered=400,
                conversion_rate=0.25,
                baseline_rate=0.40,
                p_adj_vs_baseline=0.001,
                flagged=True,
                shortfall_units=30.0,
                downstream_customers_lost=4.0,
            ),
            dict(
                common,
                segment_type="channel",
                segment="paid_social",
                entered=100,
                conversion_rate=0.10,
                baseline_rate=0.40,
                p_adj_vs_baseline=0.002,
                flagged=True,
                shortfall_units=20.0,
                downstream_customers_lost=2.5,
            ),
            dict(
                common,
                segment_type="channel",
                segment="email",
                entered=100,
                conversion_rate=0.35,
                baseline_rate=0.40,
                p_adj_vs_baseline=0.4,
                flagged=False,
                shortfall_units=2.0,
                downstream_customers_lost=0.3,
            ),
            dict(
                common,
                segment_type="all",
                segment="all",
                from_stage="lead",
                to_stage="mql",
                entered=500,
                conversion_rate=0.5,
                baseline_rate=0.5,
                p_adj_vs_baseline=0.9,
                flagged=False,
                shortfall_units=0.0,
                downstream_customers_lost=0.0,
            ),
        ]
    )


def reallocation() -> pd.DataFrame:
    """A planted saturated channel: display at marginal ROAS 0.2, paid_search at 3.0."""
    return pd.DataFrame(
        [
            dict(
                channel="display",
                current_spend=50_000.0,
                recommended_spend=35_000.0,
                marginal_roas_current=0.2,
                expected_revenue_current=60_000.0,
                expected_revenue_recommended=57_500.0,
            ),
            dict(
                channel="paid_search",
                current_spend=50_000.0,
                recommended_spend=65_000.0,
                marginal_roas_current=3.0,
                expected_revenue_current=150_000.0,
                expected_revenue_recommended=190_000.0,
            ),
        ]
    )


def test_bottleneck_insight_names_the_transition_and_segment():
    text = ins.bottleneck_insight(bottlenecks())["insight"]
    assert "mql→sql" in text and "25.0%" in text and "40.0%" in text
    assert "concentrated in channel = paid_social (10.0% against the 25.0% its 40.0% " in text
    assert "4.0 customers" in text


def test_a_uniform_drop_names_no_segment():
    """Every segment fell to about half its baseline, like the whole step: the biggest
    segment has the largest shortfall but is no cause; the drop is called broad."""
    rows = bottlenecks()
    rows = rows[rows.segment_type == "all"]
    segments = pd.DataFrame(
        [
            dict(
                rows.iloc[0].to_dict(),
                segment_type="industry",
                segment=name,
                entered=n,
                conversion_rate=rate,
                baseline_rate=base,
                flagged=True,
                shortfall_units=n * (base - rate),
            )
            for name, n, rate, base in [
                ("software", 60, 0.17, 0.40),
                ("retail", 200, 0.21, 0.40),
                ("finance", 80, 0.20, 0.42),
                ("health", 60, 0.26, 0.38),
            ]
        ]
    )
    table = pd.concat([rows, segments], ignore_index=True)
    text = ins.bottleneck_insight(table)["insight"]
    assert "the drop is broad: none of the 4 segments fell significantly more" in text
    action = ins.bottleneck_actions(table, ins.UnitValues(None, None, 1_000.0))[0]["action"]
    assert action.startswith("Fix the mql→sql step: 25.0% vs 40.0% 3-month baseline")
    assert "retail" not in action and "broad" in action


def test_budget_insight_moves_money_out_of_the_saturated_channel():
    row = ins.budget_insight(reallocation(), "USD")
    assert row["value"] == pytest.approx(37_500.0)
    assert "into paid_search" in row["insight"] and "out of display" in row["insight"]
    assert "paid_search 3.00, display 0.20)" in row["insight"]


def test_no_budget_insight_without_uplift():
    flat = reallocation().assign(expected_revenue_recommended=lambda d: d.expected_revenue_current)
    assert ins.budget_insight(flat, "USD") is None


def test_revenue_and_mover_insights_quote_their_numbers():
    rows = ins.build_insights(
        MONTH, "USD", summary(), bottlenecks=bottlenecks(), reallocation=reallocation()
    )
    assert 3 <= len(rows) <= 5
    first = rows.iloc[0]["insight"]
    assert first.startswith("Won revenue was USD 400,000 in June 2025")
    assert "-20% against the USD 500,000 target" in first and "+5% month over month" in first
    mover = ins.biggest_mover_insight(summary())
    assert mover["metric"] == "mqls" and "rose 100%" in mover["insight"]


def test_actions_ranked_by_revenue_equivalent_with_owner_and_due_date():
    waste = pd.DataFrame(
        [
            dict(
                kind="no_conversions",
                scope="campaign",
                scope_id="C9",
                name="Zombie",
                channel="display",
                spend=8_000.0,
                metric="leads",
                value=0.0,
                threshold=1.0,
                wasted_spend=8_000.0,
            )
        ]
    )
    actions = ins.build_actions(
        MONTH, "USD", summary(), reallocation=reallocation(), waste=waste, bottlenecks=bottlenecks()
    )
    # customer value = 400,000 / 10 = 40,000 -> 4 customers = 160,000 > budget 37,500 > waste 8,000
    assert actions["source"].tolist() == [
        "funnel_bottlenecks",
        "budget_reallocation",
        "budget_waste",
    ]
    top = actions.iloc[0]
    assert top["owner_role"] == "Sales development lead" and top["impact_metric"] == "customers"
    assert top["revenue_equivalent"] == pytest.approx(160_000.0)
    assert actions.iloc[1]["expected_impact"] == pytest.approx(37_500.0)
    assert "Pause or fix 'Zombie'" in actions.iloc[2]["action"]
    assert actions["due_by"].tolist() == [date(2025, 7, 14), date(2025, 7, 7), date(2025, 7, 3)]
    assert actions["rank"].tolist() == [1, 2, 3]


def test_at_most_five_and_at_most_two_per_source():
    candidates = [
        dict(
            action=f"a{i}",
            owner_role="x",
            expected_impact=float(i),
            impact_metric="revenue",
            revenue_equivalent=float(100 - i),
            source=f"s{i % 3}",
            evidence="",
        )
        for i in range(12)
    ]
    ranked = ins.rank_actions(candidates, MONTH)
    assert len(ranked) == 5
    assert ranked["source"].value_counts().max() <= 2
    assert ranked["revenue_equivalent"].is_monotonic_decreasing


def test_experiment_actions():
    results = pd.DataFrame(
        [
            dict(
                experiment_id="E1",
                experiment_name="Hero copy",
                variant="B",
                primary_metric="conversion",
                units=10_000,
                lift_abs=0.01,
                p_value_adjusted=0.004,
                srm_p_value=0.5,
                verdict="ship",
                verdict_reason="significant",
            ),
            dict(
                experiment_id="E2",
                experiment_name="Pricing",
                variant="B",
                primary_metric="conversion",
                units=5_000,
                lift_abs=0.02,
                p_value_adjusted=0.01,
                srm_p_value=1e-6,
                verdict="invalid: SRM",
                verdict_reason="srm",
            ),
            dict(
                experiment_id="E3",
                experiment_name="Form",
                variant="B",
                primary_metric="conversion",
                units=5_000,
                lift_abs=0.0,
                p_value_adjusted=0.8,
                srm_p_value=0.5,
                verdict="keep running",
                verdict_reason="underpowered",
            ),
        ]
    )
    values = ins.UnitValues(per_lead=1_000.0, per_sql=None, per_customer=None)
    actions = ins.experiment_actions(results, values)
    assert [a["impact_metric"] for a in actions] == ["conversions", "decisions_unblocked"]
    assert actions[0]["expected_impact"] == pytest.approx(100.0)
    assert actions[0]["revenue_equivalent"] == pytest.approx(100_000.0)
    assert "SRM p = 1.0e-06" in actions[1]["action"]


def test_threshold_action_reports_sql_gain_or_capacity():
    recs = pd.DataFrame(
        [
            dict(
                rule="crm mql stage",
                mqls_per_month=100.0,
                sqls_per_month=40.0,
                precision=0.40,
                is_recommended=False,
            ),
            dict(
                rule="score >= 30",
                mqls_per_month=80.0,
                sqls_per_month=44.0,
                precision=0.55,
                is_recommended=True,
            ),
        ]
    )
    action = ins.threshold_action(recs, ins.UnitValues(None, per_sql=2_000.0, per_customer=None))[0]
    assert action["impact_metric"] == "sqls" and action["expected_impact"] == pytest.approx(4.0)
    assert action["revenue_equivalent"] == pytest.approx(8_000.0)
    fewer = recs.assign(sqls_per_month=[40.0, 38.0])
    action = ins.threshold_action(fewer, ins.UnitValues(None, 2_000.0, None))[0]
    assert action["impact_metric"] == "mqls_avoided" and action["expected_impact"] == pytest.approx(
        20.0
    )


def test_missing_inputs_give_no_candidates():
    assert ins.build_actions(MONTH, "USD", summary()).empty
    assert list(ins.build_actions(MONTH, "USD", summary()).columns) == ins.ACTION_COLUMNS


def test_srm_gives_one_action_per_experiment_not_per_row():
    rows = [
        dict(
            experiment_id="E2",
            experiment_name="Pricing",
            variant=v,
            is_control=v == "control",
            primary_metric="conversion",
            units=5_000,
            lift_abs=0.0,
            p_value_adjusted=0.5,
            decision_p_value_adjusted=0.5,
            srm_p_value=1e-6,
            verdict="invalid: SRM",
            verdict_reason="srm",
        )
        for v in ("control", "B", "C")
    ]
    actions = ins.experiment_actions(pd.DataFrame(rows), ins.UnitValues(None, None, None))
    assert len(actions) == 1


def test_content_recommendations_without_impact_are_skipped():
    recs = pd.DataFrame(
        [
            dict(
                rank=1,
                kind="create",
                recommendation="x",
                expected_impact=float("nan"),
                impact_metric="form_fills_per_month",
            ),
            dict(
                rank=2,
                kind="promote",
                recommendation="y",
                expected_impact=5.0,
                impact_metric="form_fills_per_month",
            ),
        ]
    )
    actions = ins.content_actions(
        recs, ins.UnitValues(per_lead=100.0, per_sql=None, per_customer=None)
    )
    assert [a["action"] for a in actions] == ["y"] and actions[0]["revenue_equivalent"] == 500.0


def test_uplift_is_measured_against_the_current_mix_at_the_same_budget():
    realloc = reallocation().assign(expected_revenue_reference=[55_000.0, 140_000.0])
    # recommended 57,500 + 190,000 against the reference mix 55,000 + 140,000
    assert ins.reallocation_uplift(realloc) == pytest.approx(52_500.0)
    assert ins.reallocation_uplift(reallocation()) == pytest.approx(37_500.0)


def test_threshold_action_never_pushes_a_rule_with_a_lower_sql_rate():
    """A score rule that makes more MQLs at a lower SQL rate than the CRM's rule (a weak
    model) is not turned into an action; neither is the CRM rule itself."""
    recs = pd.DataFrame(
        [
            dict(rule="crm mql stage", mqls_per_month=16.0, sqls_per_month=10.5, precision=0.656),
            dict(rule="score >= 10", mqls_per_month=32.5, sqls_per_month=9.5, precision=0.292),
        ]
    )
    values = ins.UnitValues(None, per_sql=2_000.0, per_customer=None)
    assert ins.threshold_action(recs.assign(is_recommended=[False, True]), values) == []
    assert ins.threshold_action(recs.assign(is_recommended=[True, False]), values) == []


def test_threshold_action_does_not_trade_most_sqls_for_fewer_mqls():
    """A strict score threshold with a higher SQL rate that keeps 5 of the CRM rule's 42
    SQLs a month is a sales-capacity choice shown in the table, not an action; one that
    keeps 40 of 42 (95%) is."""
    recs = pd.DataFrame(
        [
            dict(rule="crm mql stage", mqls_per_month=120.0, sqls_per_month=42.0, precision=0.35),
            dict(
                rule="recommended: score >= 34",
                mqls_per_month=10.0,
                sqls_per_month=5.0,
                precision=0.50,
            ),
        ]
    ).assign(is_recommended=[False, True])
    values = ins.UnitValues(None, per_sql=2_000.0, per_customer=None)
    assert ins.threshold_action(recs, values) == []
    kept = recs.assign(sqls_per_month=[42.0, 40.0], mqls_per_month=[120.0, 80.0])
    assert ins.threshold_action(kept, values)[0]["impact_metric"] == "mqls_avoided"


def _comparison(least: str, most: str) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(
                conversion_type="lead",
                channel="paid_search",
                min_share=0.26,
                max_share=0.69,
                spread=0.43,
                least_generous_model=least,
                most_generous_model=most,
                share_markov=0.26 if least == "markov" else 0.40,
                share_shapley=0.69 if most == "shapley" else 0.50,
            ),
            dict(
                conversion_type="lead",
                channel="email",
                min_share=0.10,
                max_share=0.12,
                spread=0.02,
                least_generous_model="first_touch",
                most_generous_model="linear",
                share_markov=0.11,
                share_shapley=0.11,
            ),
        ]
    )


def test_attribution_insight_names_the_widest_disagreement_once():
    both = ins.attribution_insight(_comparison("markov", "shapley"))["insight"]
    assert both == (
        "Attribution models disagree most on paid_search: from 26% of leads (markov) to 69% "
        "(shapley)."
    )
    rule_based = ins.attribution_insight(_comparison("last_touch", "first_touch"))["insight"]
    assert rule_based.endswith("data-driven models put it at 40% (Markov) and 50% (Shapley).")
    assert ins.attribution_insight(_comparison("markov", "shapley").iloc[[1]]) is None


def test_budget_story_uses_the_optimisers_moves_not_pinned_plan_channels():
    """A channel held at its planned amount for lack of history (pinned, no curve) is not
    'money moved' by the optimiser; moves are read against the reference mix at the same
    budget (after the test reserve), not against this month's spend."""
    realloc = pd.DataFrame(
        [
            dict(
                channel="display",
                current_spend=4500.0,
                reference_spend=3700.0,
                recommended_spend=4800.0,
                marginal_roas_current=0.94,
                pinned=False,
                expected_revenue_current=4400.0,
                expected_revenue_reference=4000.0,
                expected_revenue_recommended=4700.0,
            ),
            dict(
                channel="paid_social",
                current_spend=5800.0,
                reference_spend=4800.0,
                recommended_spend=3300.0,
                marginal_roas_current=0.27,
                pinned=False,
                expected_revenue_current=2500.0,
                expected_revenue_reference=2300.0,
                expected_revenue_recommended=1800.0,
            ),
            dict(
                channel="video",
                current_spend=0.0,
                reference_spend=1000.0,
                recommended_spend=1000.0,
                marginal_roas_current=float("nan"),
                pinned=True,
                expected_revenue_current=0.0,
                expected_revenue_reference=0.0,
                expected_revenue_recommended=0.0,
            ),
        ]
    )
    text = ins.budget_insight(realloc, "USD")["insight"]
    assert "moving USD 1,100 into display and USD 1,500 out of paid_social" in text
    assert "display 0.94, paid_social 0.27)" in text and "nan" not in text and "video" not in text
    action = ins.reallocation_action(realloc, "USD")[0]["action"]
    assert "add to display USD 1,100; take from paid_social USD 1,500" in action
    assert "video" not in action


def test_saturation_waste_action_does_not_contradict_the_reallocation():
    """A channel past saturation (marginal ROAS < 1) can still be where a fixed budget does
    best; the action says to trim it only if the total budget can shrink."""
    waste = pd.DataFrame(
        [
            dict(
                kind="past_saturation",
                scope="channel",
                scope_id="paid_search",
                name="paid_search",
                channel="paid_search",
                spend=9315.4,
                metric="marginal_roas",
                value=0.60,
                threshold=1.0,
                wasted_spend=902.64,
                detail="average ROAS 1.28 looks fine but the last dollar returns 0.60",
            )
        ]
    )
    action = ins.waste_actions(waste, "USD")[0]
    assert action["action"] == (
        "If the total budget can shrink, trim 'paid_search' (paid_search): average ROAS 1.28 "
        "looks fine but the last dollar returns 0.60; it loses about USD 903 a month net of the "
        "revenue it brings. Within a fixed budget, the reallocation decides where money goes."
    )
    assert action["expected_impact"] == pytest.approx(902.64)


def test_channel_mover_states_from_and_to_when_one_side_is_zero():
    channels = pd.DataFrame(
        {
            "level": "channel",
            "channel": ["organic_search", "email"],
            "attributed_revenue": [93_463.0, 11_936.0],
            "prior_attributed_revenue": [0.0, 71_354.0],
            "spend_change_pct": [None, None],
            "attribution_model": "shapley",
        }
    )
    mover = ins.channel_mover_insight(channels, "USD")
    assert mover["insight"] == (
        "organic_search attributed revenue went from USD 0 to USD 93,463 (shapley attribution)."
    )
    assert mover["value"] == pytest.approx(93_463.0)
    mover = ins.channel_mover_insight(channels.iloc[[1]], "USD")
    assert mover["insight"].startswith(
        "email attributed revenue dropped by USD 59,418 to USD 11,936"
    )


def test_a_tracking_drop_comes_before_channel_changes():
    """56% of leads tracked against 97% last month: an insight says so, and the channel
    mover that follows carries the caveat; a steady 95% says nothing."""
    summary = pd.DataFrame(columns=["metric", "value"])
    channels = pd.DataFrame(
        {
            "level": "channel",
            "channel": ["paid_search"],
            "attributed_revenue": [156_135.0],
            "prior_attributed_revenue": [315_254.0],
            "spend_change_pct": [None],
            "attribution_model": "shapley",
        }
    )
    out = ins.build_insights(
        date(2025, 5, 1), "USD", summary, channels=channels, lead_coverage=(0.56, 0.97)
    )
    assert out["kind"].tolist()[:2] == ["tracking", "channel_mover"]
    assert (
        out["insight"]
        .iloc[0]
        .startswith("Only 56% of this month's leads had a tracked touch, down from 97% last month")
    )
    assert (
        out["insight"]
        .iloc[1]
        .endswith(
            "(shapley attribution; fewer leads were tracked this month, so part of it is the "
            "tracking gap)."
        )
    )
    steady = ins.build_insights(
        date(2025, 5, 1), "USD", summary, channels=channels, lead_coverage=(0.95, 0.97)
    )
    assert "tracking" not in set(steady["kind"])
    assert "tracking gap" not in " ".join(steady["insight"])


def test_waste_action_says_which_model_found_no_lead():
    """A campaign with no lead credit under Shapley that is the last touch before 86 leads
    (brand search in the converting session) is not "without a conversion": the action says
    which model credits nothing and what last touch sees, and proposes a test."""
    from gtm_assets.analytics.pacing import campaign_waste

    perf = pd.DataFrame(
        [
            dict(
                campaign_id="PS-B",
                campaign_name="PS - Brand",
                channel="paid_search",
                spend=807.0,
                clicks=400,
                leads=0.0,
                target_cpa=None,
                attribution_model="shapley",
                last_touch_leads=86.0,
            ),
            dict(
                campaign_id="D9",
                campaign_name="Zombie",
                channel="display",
                spend=900.0,
                clicks=300,
                leads=0.0,
                target_cpa=None,
                attribution_model="shapley",
                last_touch_leads=0.0,
            ),
        ]
    )
    waste = campaign_waste(perf, min_spend=100.0, min_clicks=50, cpa_tolerance=0.2)
    assert waste["last_touch_leads"].tolist() == [86.0, 0.0]
    assert (
        "without a lead credited by shapley attribution; last touch credits it with 86"
        in (waste.iloc[0]["detail"])
    )
    actions = {a["evidence"]: a["action"] for a in ins.waste_actions(waste, "USD")}
    brand, zombie = actions["no_conversions campaign PS-B"], actions["no_conversions campaign D9"]
    assert brand.startswith("Test pausing 'PS - Brand' (paid_search): it spent USD 807 without")
    assert "last touch before 86 leads: it catches people who were already converting" in brand
    assert zombie.startswith("Pause or fix 'Zombie' (display): it spent USD 900 without a lead")
    assert "credited by shapley attribution;" in zombie
    # a campaign that ended within the month cannot be paused: do not renew it
    ended = waste.assign(month=date(2025, 6, 1), campaign_end_date=[None, date(2025, 6, 30)])
    actions = {a["evidence"]: a["action"] for a in ins.waste_actions(ended, "USD")}
    zombie = actions["no_conversions campaign D9"]
    assert zombie.startswith("Do not renew or extend 'Zombie' (display): it spent USD 900")
    assert "; it ended on 30 June, so fix its targeting or offer before reusing it;" in zombie
    running = ended.assign(campaign_end_date=[None, date(2025, 7, 15)])
    actions = {a["evidence"]: a["action"] for a in ins.waste_actions(running, "USD")}
    assert actions["no_conversions campaign D9"].startswith("Pause or fix 'Zombie'")


def test_ship_action_names_units_and_reaches_a_month_of_traffic():
    """A revenue winner: the lift is money per unit with its currency, the p-value is
    printed plainly, and the impact is the lift times the experiment's units a month
    (3,000 units over 1 Aug - 31 Oct = 92 days -> 991.3 a month), not times the test's own
    treatment units."""
    base = dict(
        experiment_id="EXP-3",
        experiment_name="Annual plan discount",
        primary_metric="revenue",
        month=date(2025, 10, 1),
        start_date=date(2025, 8, 1),
        end_date=None,
        srm_p_value=0.6,
    )
    results = pd.DataFrame(
        [
            dict(base, variant="control", is_control=True, units=1_489, verdict="baseline"),
            dict(
                base,
                variant="discount10",
                is_control=False,
                units=1_511,
                lift_abs=0.026,
                lift_rel=0.34,
                revenue_lift_abs=23.96,
                revenue_lift_rel=0.385,
                p_value_adjusted=0.2,
                decision_p_value_adjusted=0.0376,
                verdict="ship",
                verdict_reason="better",
            ),
        ]
    )
    (action,) = ins.experiment_actions(results, ins.UnitValues(None, None, None), "USD")
    per_month = 3_000 * 30.4 / 92
    assert action["expected_impact"] == pytest.approx(23.96 * per_month)
    assert action["impact_metric"] == "revenue"
    text = action["action"]
    assert "'discount10' of 'Annual plan discount': +USD 24 revenue per unit (+38.5%)" in text
    assert "adjusted p = 0.038" in text and "about 991 units a month" in text
    assert "  " not in text
    conv = results.assign(primary_metric="conversion", decision_p_value_adjusted=0.0004)
    (action,) = ins.experiment_actions(conv, ins.UnitValues(1_000.0, None, None), "USD")
    assert "+2.6 percentage points conversion rate (+34.0% relative)" in action["action"]
    assert "adjusted p < 0.001" in action["action"]
    assert action["expected_impact"] == pytest.approx(0.026 * per_month)


def test_bottleneck_action_points_at_a_new_low_converting_segment():
    """A list import: 261 of 671 new leads come from channel 'unknown', a segment with no
    baseline, converting at 8%. The action still names the flagged segment but says to
    check the mix first, with the numbers."""
    rows = bottlenecks()
    rows = rows.assign(entered=[400, 120, 60, 500][: len(rows)])
    all_row = rows.iloc[0]
    new = dict(
        all_row.to_dict(),
        segment_type="channel",
        segment="unknown",
        entered=150,
        conversion_rate=0.08,
        baseline_rate=None,
        flagged=False,
        shortfall_units=0.0,
    )
    rows = pd.concat([rows, pd.DataFrame([new])], ignore_index=True)
    values = ins.UnitValues(None, None, 40_000.0)
    text = ins.bottleneck_actions(rows, values)[0]["action"]
    assert "Check the mix first: 150 of the 400 entries come from channel = unknown" in text
    assert "no baseline), converting at 8.0%" in text
    small = rows.assign(entered=[400, 120, 60, 500, 30])
    assert "Check the mix" not in ins.bottleneck_actions(small, values)[0]["action"]


def test_reallocation_action_says_when_its_gain_interval_includes_nothing():
    """The paired bootstrap interval of the gain decides the wording: above 0, reallocate;
    including 0, test it on part of the budget, with the interval."""
    sure = reallocation().assign(total_gain_ci_low=20_000.0, total_gain_ci_high=50_000.0)
    text = ins.reallocation_action(sure, "USD")[0]["action"]
    assert text.startswith("Reallocate next month's budget as recommended: add to paid_search")
    assert "includes no gain" not in text
    unsure = reallocation().assign(total_gain_ci_low=-4_000.0, total_gain_ci_high=60_000.0)
    text = ins.reallocation_action(unsure, "USD")[0]["action"]
    assert text.startswith("Test the reallocation on part of the budget: add to paid_search")
    assert "the interval USD -4,000 to USD 60,000 includes no gain" in text
    # slices written before the interval existed keep the old wording
    assert ins.reallocation_action(reallocation(), "USD")[0]["action"].startswith("Reallocate")
    # the insight quoting the same move says so too, instead of contradicting the action
    assert "a move to test, not yet a plan" in ins.budget_insight(unsure, "USD")["insight"]
    assert "a move to test" not in ins.budget_insight(sure, "USD")["insight"]


def test_partial_month_insights_name_the_days_and_the_prorated_target():
    df = summary().assign(partial_month=True, days_covered=16, days_in_month=31)
    df["target_to_date"] = df["target"] * 16 / 31
    rev = ins.revenue_insight(df, date(2025, 10, 1), "USD")
    # 400,000 against 500,000 x 16/31 = 258,065 to date: +55%
    assert rev["insight"].startswith("Won revenue was USD 400,000 in 1-16 October 2025")
    assert "+55% against the USD 258,065 target prorated to date" in rev["insight"]
    assert "+5% against 1-16 September" in rev["insight"]
    mover = ins.biggest_mover_insight(df)
    assert mover["insight"].endswith("from 100 in the same 16 days of the month before.")
    whole = ins.revenue_insight(summary(), date(2025, 10, 1), "USD")
    assert "in October 2025" in whole["insight"] and "month over month" in whole["insight"]


def test_bottleneck_without_a_downstream_cost_is_no_action_and_no_nan():
    """A bottleneck whose downstream cost cannot be measured (no later-stage rates) is still
    an insight, without "about nan customers", and not an action with a NaN impact."""
    b = bottlenecks()
    b["downstream_customers_lost"] = float("nan")
    insight = ins.bottleneck_insight(b)
    assert "nan" not in insight["insight"] and "customers lost" not in insight["insight"]
    assert insight["insight"].startswith("The biggest funnel bottleneck is mql→sql: 25.0%")
    values = ins.UnitValues(per_lead=None, per_sql=None, per_customer=5_000.0)
    assert ins.bottleneck_actions(b, values) == []


def _pacing_rows(days_elapsed: int) -> pd.DataFrame:
    """paid_social at 1,600 a day against a 31,000 plan, display at half its plan."""
    common = dict(
        level="channel",
        campaign_id=None,
        as_of_date=date(2025, 10, days_elapsed),
        days_elapsed=days_elapsed,
        days_in_month=31,
    )
    return pd.DataFrame(
        [
            dict(
                common,
                channel="paid_social",
                mtd_spend=25_600.0,
                planned_spend=31_000.0,
                run_rate_daily=1_600.0,
                projected_eom_spend=49_600.0,
                pacing_ratio=1.6,
                status="over",
                run_out_date=date(2025, 10, 20),
            ),
            dict(
                common,
                channel="display",
                mtd_spend=6_400.0,
                planned_spend=24_800.0,
                run_rate_daily=400.0,
                projected_eom_spend=12_400.0,
                pacing_ratio=0.5,
                status="under",
                run_out_date=None,
            ),
            dict(
                common,
                channel="email",
                mtd_spend=3_200.0,
                planned_spend=6_200.0,
                run_rate_daily=200.0,
                projected_eom_spend=6_200.0,
                pacing_ratio=1.0,
                status="on_track",
                run_out_date=None,
            ),
        ]
    )


def test_pacing_actions_while_the_month_runs():
    actions = ins.build_actions(date(2025, 10, 1), "USD", summary(), pacing=_pacing_rows(16))
    pacing = actions[actions["source"] == "budget_pacing"].set_index("impact_metric")
    over = pacing.loc["spend_saved"]
    assert over["action"] == (
        "Lower paid_social's daily cap now: at USD 1,600 a day it reaches its USD 31,000 plan "
        "on 20 October and would end the month at USD 49,600, USD 18,600 over plan."
    )
    assert over["expected_impact"] == pytest.approx(18_600.0)
    assert over["due_by"] == date(2025, 10, 17)  # the day after the data end
    under = pacing.loc["spend_unused"]
    assert under["action"].startswith("display is pacing to USD 12,400 of its USD 24,800 plan")
    assert under["expected_impact"] == pytest.approx(12_400.0)
    # a closed month (data to the 30th or 31st): the overspend gets a cap for next month,
    # the underspend is history
    rows = _pacing_rows(31).assign(
        mtd_spend=[43_400.0, 12_400.0, 6_200.0],
        projected_eom_spend=[43_400.0, 12_400.0, 6_200.0],
        pacing_ratio=[1.4, 0.5, 1.0],
    )
    closed = ins.build_actions(date(2025, 10, 1), "USD", summary(), pacing=rows)
    capped = closed[closed["source"] == "budget_pacing"]
    assert list(capped["impact_metric"]) == ["spend_over_plan"]
    assert capped["action"].iloc[0] == (
        "Cap paid_social's spend: it spent USD 43,400 against its USD 31,000 plan for October "
        "(+40%; the plan was used up on 20 October). Set a daily cap near USD 1,000 (its plan "
        "spread over the month) or agree a larger plan before next month starts."
    )
    assert capped["expected_impact"].iloc[0] == pytest.approx(12_400.0)
    assert capped["due_by"].iloc[0] == date(2025, 11, 3)
    insight = ins.pacing_insight(rows, "USD")
    assert insight["insight"] == (
        "paid_social spent USD 43,400 against its USD 31,000 plan (+40%): a pacing overrun, "
        "not a performance signal."
    )


def test_cpa_waste_action_says_how_many_leads_and_by_which_model():
    waste = pd.DataFrame(
        [
            dict(
                kind="cpa_above_target",
                scope="campaign",
                scope_id="C_SOC1",
                name="LinkedIn launch",
                channel="paid_social",
                spend=2_500.0,
                metric="cpa",
                value=2_500.0 / 0.5,
                threshold=150.0,
                wasted_spend=2_500.0 - 0.5 * 150.0,
                attribution_model="shapley",
            )
        ]
    )
    action = ins.waste_actions(waste, "USD")[0]["action"]
    assert action.startswith(
        "Cut bids or budget on 'LinkedIn launch' (paid_social): its CPA is USD 5,000 against a "
        "USD 150 target (0.5 leads credited by shapley attribution where the target implies 16.7)"
    )
    # judged on the 1,000 of its spend whose leads are due (a launch late in the month)
    due = waste.assign(lead_due_spend=1_000.0, value=1_000.0 / 0.5, target_cpa=150.0)
    assert ins.waste_actions(due, "USD")[0]["action"].startswith(
        "Cut bids or budget on 'LinkedIn launch' (paid_social): its CPA is USD 2,000 against a "
        "USD 150 target (0.5 leads credited by shapley attribution where the target implies 6.7)"
    )
    # the ad platform (or last touch) puts the campaign within target: test, not cut
    both = waste.assign(platform_conversions=20.0, last_touch_leads=2.0)
    action = ins.waste_actions(both, "USD")[0]["action"]
    assert action.startswith("Test lower bids on 'LinkedIn launch'")
    assert (
        "but the ad platform's own conversions put its CPA at USD 125 (20 conversions), so the "
        "verdict rests on the attribution model"
    ) in action
    closer = waste.assign(platform_conversions=None, last_touch_leads=17.0)
    assert (
        "last touch puts its CPA at USD 147 (17 leads)"
        in (ins.waste_actions(closer, "USD")[0]["action"])
    )
    assert ins.waste_actions(waste.assign(last_touch_leads=2.0), "USD")[0]["action"].startswith(
        "Cut bids"
    )


def test_one_deal_carrying_the_month_is_called_out():
    amounts = [200_000.0, 9_000.0, 6_500.0, 12_000.0]
    rev = ins.revenue_insight(summary(), date(2025, 7, 1), "USD", amounts)
    # 200,000 / 227,500 = 88%; the other three: median 9,000
    assert (
        "one deal of USD 200,000 is 88% of it (the other 3: median USD 9,000), so every "
        "revenue figure this month rests on it" in rev["insight"]
    )
    assert ins.one_deal_caveat([9_000.0, 6_500.0, 12_000.0], "USD") is None
    assert ins.one_deal_caveat([5_000.0], "USD").startswith("one deal of USD 5,000 is 100%")


def test_a_tiny_count_is_not_the_biggest_mover():
    """SQLs from 2 to 4 "rose 100%": at that size no mover; leads +33% (300 -> 400) is."""
    small = summary(sqls=(4, None, 2), mqls=(210, None, 200))
    mover = ins.biggest_mover_insight(small)
    assert mover["metric"] == "leads" and "rose 33%" in mover["insight"]


def _waste_rows(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(
                kind="no_conversions" if i == n - 1 else "cpa_above_target",
                scope="campaign",
                scope_id=f"c{i}",
                name=f"Campaign {i}",
                channel="paid_social" if i == n - 1 else "paid_search",
                spend=10_000.0,
                metric="leads" if i == n - 1 else "cpa",
                value=0.0 if i == n - 1 else 400.0,
                threshold=None if i == n - 1 else 250.0,
                wasted_spend=9_000.0 - 1_000.0 * i,
                attribution_model="shapley",
                last_touch_leads=0.0,
            )
            for i in range(n)
        ]
    )


def test_empty_slots_take_a_third_action_of_one_source():
    """Three wasteful campaigns and nothing else: all three are listed, not two and an
    empty slot; with other sources available the cap of two per source holds."""
    actions = ins.build_actions(MONTH, "USD", summary(), waste=_waste_rows(3))
    assert list(actions["source"]) == ["budget_waste"] * 3
    assert actions["action"].iloc[2].startswith("Pause or fix 'Campaign 2' (paid_social)")
    assert list(actions["rank"]) == [1, 2, 3]
    candidates = [
        dict(
            action=f"w{i}",
            owner_role="x",
            expected_impact=1.0,
            impact_metric="revenue",
            revenue_equivalent=100.0 - i,
            source="w",
            evidence="",
        )
        for i in range(4)
    ] + [
        dict(
            action="o",
            owner_role="x",
            expected_impact=1.0,
            impact_metric="revenue",
            revenue_equivalent=1.0,
            source="o",
            evidence="",
        )
    ]
    ranked = ins.rank_actions(candidates, MONTH)
    assert list(ranked["action"]) == ["w0", "w1", "w2", "w3", "o"]
    assert len(ins.rank_actions(candidates, MONTH, limit=3)) == 3
    assert list(ins.rank_actions(candidates, MONTH, limit=3)["action"]) == ["w0", "w1", "o"]


def test_missed_targets_are_an_insight():
    rows = summary(leads=(983, 1_156, 1_000), mqls=(414, 400, 380))
    rows["status"] = [
        "no_target",
        "no_target",
        "off_track",
        "no_target",
        "no_target",
        "no_target",
        "on_track",
    ]
    rows["unit"] = ["money", "money", "count", "count", "count", "ratio", "count"]
    insight = ins.target_insight(rows, "USD")
    assert insight["insight"] == "Off target: leads 983 against 1,156 (-15%)."
    assert insight["value"] == pytest.approx(100 * (983 / 1156 - 1))
    rows["status"] = "on_track"
    assert ins.target_insight(rows, "USD") is None


def _channels(paid_search_leads: float, direct_leads: float, clicks: float = 13_000.0):
    return pd.DataFrame(
        [
            dict(
                level="channel",
                channel="paid_search",
                spend=60_000.0,
                clicks=clicks,
                leads=paid_search_leads,
                attributed_revenue=100_000.0,
                prior_attributed_revenue=120_000.0,
                attribution_model="shapley",
                spend_change_pct=0.0,
            ),
            dict(
                level="channel",
                channel="direct",
                spend=0.0,
                clicks=0.0,
                leads=direct_leads,
                attributed_revenue=50_000.0,
                prior_attributed_revenue=30_000.0,
                attribution_model="shapley",
                spend_change_pct=None,
            ),
            dict(
                level="channel",
                channel="display",
                spend=30_000.0,
                clicks=25_000.0,
                leads=130.0,
                attributed_revenue=40_000.0,
                prior_attributed_revenue=41_000.0,
                attribution_model="shapley",
                spend_change_pct=0.0,
            ),
        ]
    )


def test_lost_utm_tags_are_told_apart_from_a_collapse():
    """paid_search leads fall 44% on flat clicks while direct gains as many: lost tags. The
    CPA cuts on its campaigns give way to a "fix the tagging" action; the same fall with
    direct flat is a real drop and stays a cost action."""
    prior = _channels(166.7, 78.6)
    now = _channels(93.0, 156.9)
    breaks = ins.tagging_breaks(now, prior)
    assert list(breaks["channel"]) == ["paid_search"]
    assert breaks["missing"].iloc[0] == pytest.approx(166.7 - 93.0)
    waste = _waste_rows(2)  # c0 paid_search CPA, c1 paid_social no conversions
    actions = ins.build_actions(
        MONTH, "USD", summary(), waste=waste, channels=now, prior_channels=prior
    )
    assert "Campaign 0" not in " ".join(actions["action"])
    fix = actions[actions["impact_metric"] == "leads_mistracked"].iloc[0]
    assert fix["action"].startswith(
        "Fix paid_search's utm tagging before acting on its numbers: paid_search's attributed "
        "leads fell 44% to 93 while its clicks held (13,000 against 13,000) and untagged "
        "traffic (direct, unclassified) gained 78 leads."
    )
    assert "(1 cost action(s) held back until then)" in fix["action"]
    assert fix["revenue_equivalent"] == pytest.approx(9_000.0 + 73.7 * 1_000.0)
    insight = ins.build_insights(MONTH, "USD", summary(), channels=now, prior_channels=prior)
    assert "looks like lost utm tags" in " ".join(insight["insight"])
    # a real collapse: direct did not gain the missing leads
    assert ins.tagging_breaks(_channels(93.0, 80.0), prior).empty
    # fewer clicks explain fewer leads
    assert ins.tagging_breaks(_channels(93.0, 156.9, clicks=7_500.0), prior).empty


def _funnel_rows(km: float, p: float, entered: int = 382) -> pd.DataFrame:
    return pd.DataFrame(
        [
            dict(
                month=pd.Timestamp("2025-06-01"),
                segment_type="all",
                segment="all",
                from_stage="mql",
                to_stage="sql",
                cohort_month=pd.Timestamp("2025-05-01"),
                current_cohort_entered=entered,
                early_read_days=14,
                current_cohort_km_rate=km,
                cohort_rate_at_early_read=0.394,
                current_cohort_km_se=0.02,
                early_read_p_value=p,
            ),
        ]
    )


def test_an_open_cohort_converting_slowly_is_an_early_warning():
    funnel = _funnel_rows(0.129, 1e-12)
    insight = ins.early_warning_insight(funnel)
    assert insight["insight"] == (
        "Early warning on mql→sql: June's mqls reached sql at 12.9% within 14 days "
        "(Kaplan-Meier) against 39.4% for the May cohort at the same age (p < 0.001); about "
        "101 fewer sqls so far. The cohort is still open, so the final rate is not known yet, "
        "but the gap is already significant."
    )
    actions = ins.build_actions(MONTH, "USD", summary(), funnel=funnel)
    early = actions[actions["source"] == "funnel_stages"].iloc[0]
    assert early["owner_role"] == "Sales development lead"
    assert early["expected_impact"] == pytest.approx((0.394 - 0.129) * 382)
    assert early["revenue_equivalent"] == pytest.approx((0.394 - 0.129) * 382 * 400_000 / 100)
    # a reference cohort from before the exports begin (only later converters left a trace
    # there) is no baseline
    assert ins.early_warning_insight(funnel, data_start=date(2025, 6, 1)) is None
    assert ins.early_warning_insight(funnel, data_start=date(2025, 5, 1)) is not None
    assert (
        ins.build_actions(MONTH, "USD", summary(), funnel=funnel, data_start=date(2025, 6, 1))[
            "source"
        ]
        .ne("funnel_stages")
        .all()
    )
    # not significant, not material, or already a flagged bottleneck: no warning
    assert ins.early_warning_insight(_funnel_rows(0.129, 0.2)) is None
    assert ins.early_warning_insight(_funnel_rows(0.35, 1e-6)) is None
    assert ins.early_warning_insight(funnel, bottlenecks()) is None


def test_budget_insight_names_a_cut_channel_without_a_curve_by_its_average_return():
    realloc = reallocation().assign(
        marginal_roas_current=[float("nan"), 3.0], average_roas_current=[0.31, 3.4]
    )
    text = ins.budget_insight(realloc, "USD")["insight"]
    assert "out of display" in text
    assert "paid_search 3.00, display 0.31 on average, no fitted curve)" in text
    # without a curve a channel is never the one money moves into
    raised = realloc.assign(
        marginal_roas_current=[float("nan"), 3.0],
        recommended_spend=[65_000.0, 35_000.0],
        expected_revenue_recommended=[90_000.0, 127_500.0],
    )
    assert ins.budget_insight(raised, "USD") is None
