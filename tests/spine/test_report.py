"""The monthly report: every section present or skipped with a reason; user text escaped."""

from datetime import UTC, date, datetime

import duckdb
import pytest

from gtm_assets import warehouse as wh
from gtm_assets.assets.common import month_params
from gtm_assets.assets.executive import report_deadline, report_sections_in
from gtm_assets.assets.raw import build_staging
from gtm_assets.report import sections
from gtm_assets.report.model import fmt
from gtm_assets.report.render import render_html, render_markdown
from gtm_assets.report.sections import build_monthly_sections
from gtm_assets.sql_files import load_sql
from tests.conftest import insert_rows
from tests.spine.sample_month import FEB, attribution_rows, load_sample

HOSTILE = '<script>alert("x")</script> & "Q4" =SUM(A1)'


@pytest.fixture
def con(raw_con):
    load_sample(raw_con)
    raw_con.execute(
        "update raw.campaigns set campaign_name = $n where campaign_id = 'C1'", {"n": HOSTILE}
    )
    build_staging(raw_con, "USD")
    raw_con.execute(
        "create table marts.campaign_attribution (month date, conversion_type varchar, model varchar, "
        "channel varchar, campaign_id varchar, attributed_conversions double, attributed_revenue double)"
    )
    insert_rows(raw_con, "marts.campaign_attribution", attribution_rows())
    raw_con.execute(
        "create table marts.campaign_attribution_roi as select * from marts.campaign_attribution"
    )
    params = month_params("2024-02-01", model="linear", min_clicks=0, min_spend=0.0)
    for table in ("campaign_performance", "channel_performance", "executive_summary"):
        wh.replace_month(raw_con, f"marts.{table}", load_sql(f"marts/{table}"), FEB, params)
    return raw_con


def _render(con):
    sections = build_monthly_sections(con, FEB, "USD")
    html = render_html(
        "monthly.html.j2", sections, title="Review", subtitle="Feb", currency="USD", warehouse="w"
    )
    return sections, html


def test_every_section_present_or_skipped_with_reason(con):
    sections, html = _render(con)
    found = report_sections_in(html)
    assert set(found) == {s.key for s in sections}
    assert found["headline"] == "ok" and found["campaigns"] == "ok" and found["channels"] == "ok"
    for s in sections:
        if s.status == "skipped":
            assert s.reason


def test_hostile_campaign_names_are_escaped(con):
    _, html = _render(con)
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;Q4&#34; =SUM(A1)" in html


def test_missing_inputs_are_skipped_not_failed(raw_con):
    sections = build_monthly_sections(raw_con, FEB, "USD")
    assert {s.status for s in sections if s.key != "data_quality"} == {"skipped"}


def test_markdown_has_the_headline_and_a_chart(con):
    sections, _ = _render(con)
    md = render_markdown(sections, title="Review", subtitle="Feb")
    assert "| Spend | USD 520 |" in md
    assert "data:image/png;base64," in md


def test_charts_embedded_inline(con):
    _, html = _render(con)
    assert "<svg" in html and "http://" not in html.split("<svg", 1)[0]


@pytest.mark.parametrize(
    "month, deadline",
    [
        (date(2025, 11, 1), date(2025, 12, 3)),  # Nov 30 is a Sunday: Mon 1, Tue 2, Wed 3
        (date(2026, 4, 1), date(2026, 5, 5)),  # May 1 2026 is a Friday: Fri 1, Mon 4, Tue 5
        (date(2025, 12, 1), date(2026, 1, 5)),  # Jan 1 2026 Thursday: Thu 1, Fri 2, Mon 5
    ],
)
def test_report_deadline_business_days(month, deadline):
    assert report_deadline(month).date() == deadline
    assert report_deadline(month).tzinfo == UTC
    assert report_deadline(month) > datetime(month.year, month.month, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "value, kind, expected",
    [
        (1234.5, "money", "USD 1,234"),
        (12.5, "money", "USD 12.50"),
        (0.1234, "percent", "12.3%"),
        (0.00041, "percent", "0.041%"),  # a click-to-lead rate, not "0.0%"
        (-5.0, "pct", "-5.0%"),
        (None, "ratio", "–"),
        (float("inf"), "ratio", "–"),
        (3.0, "count", "3"),
    ],
)
def test_formatting(value, kind, expected):
    assert fmt(value, kind, "USD") == expected


@pytest.mark.parametrize(("auc", "warned"), [(0.46, True), (0.95, False)])
def test_lead_section_says_when_the_score_loses_to_the_crm_rule(auc, warned):
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute(
        "create table marts.lead_model_performance as select date '2025-08-01' as month, "
        "true as model_fitted, $auc::double as auc, 0.90::double as crm_mql_auc, "
        "0.2::double as brier, 0.05::double as ece, 99 as n_scored, 30 as mqls_scored, "
        "'target_precision' as mql_rule",
        {"auc": auc},
    )
    section = sections.lead_quality_section(con, date(2025, 8, 1), "USD")
    text = " ".join(section.paragraphs)
    assert ("keep the CRM rule" in text) is warned
    if warned:
        assert "AUC 0.46 vs 0.90" in text


def _marts(**tables) -> duckdb.DuckDBPyConnection:
    """An in-memory warehouse whose ``marts`` schema holds the given frames as tables."""
    con = duckdb.connect()
    con.execute("create schema marts")
    for name, frame in tables.items():
        con.register("_frame", frame)
        con.execute(f"create table marts.{name} as select * from _frame")
        con.unregister("_frame")
    return con


def _reallocation(**columns):
    """A month's budget_reallocation rows for the budget section: ``columns`` plus the
    expected-revenue and marginal-ROAS columns it reads, set to neutral values."""
    import pandas as pd

    return pd.DataFrame({"month": pd.Timestamp("2025-08-01"), **columns}).assign(
        marginal_roas_current=float("nan"),
        marginal_roas_recommended=float("nan"),
        expected_revenue_current=1.0,
        expected_revenue_recommended=1.0,
    )


@pytest.mark.parametrize(("movable", "said"), [(1, True), (2, False)])
def test_budget_section_says_when_no_money_can_move(movable, said):

    held = "no usable response curve: poor fit"
    realloc = _reallocation(
        channel=["paid_search", "paid_social", "video"],
        current_spend=[100.0, 100.0, 0.0],
        lower_bound=[70.0, 70.0 if movable == 2 else 130.0, 50.0],
        upper_bound=[130.0, 130.0, 50.0],
        pinned_reason=[None, None if movable == 2 else held, "no spend history"],
    ).assign(
        recommended_spend=lambda d: d.lower_bound,
        expected_revenue_reference=1.0,
        next_budget=300.0,
        budget_source="budget_plan",
        test_reserve_amount=30.0,
    )
    con = _marts(budget_reallocation=realloc)
    section = sections.budget_section(con, date(2025, 8, 1), "USD")
    text = " ".join(section.paragraphs)
    assert text.startswith("Next month's budget is USD 300 (from the budget plan); USD 30")
    assert "of it is the test reserve for experiments, the rest is allocated." in text
    assert ("no money can shift between channels" in text) is said
    if said:
        assert f"paid_social ({held}), video (no spend history)" in text
    else:  # held channels are named even when others move
        assert "Held at the current mix (no move recommended, none measured): video (no " in text


def test_budget_section_names_channels_that_may_only_lose_budget():

    realloc = _reallocation(
        channel=["paid_search", "paid_social", "display"],
        current_spend=[100.0, 100.0, 100.0],
        lower_bound=[70.0, 70.0, 70.0],
        upper_bound=[130.0, 130.0, 100.0],
        pinned_reason=[
            None,
            None,
            "no usable response curve: poor fit; may be cut at its average return, not raised",
        ],
    ).assign(
        recommended_spend=[130.0, 100.0, 70.0],
        expected_revenue_reference=1.0,
        next_budget=330.0,
        budget_source="budget_plan",
        test_reserve_amount=30.0,
    )
    text = " ".join(
        sections.budget_section(
            _marts(budget_reallocation=realloc), date(2025, 8, 1), "USD"
        ).paragraphs
    )
    assert "allowed only to lose budget" in text and text.rstrip().count("): display.") == 1
    assert "Held at the current mix" not in text


def test_budget_section_says_a_held_amount_beyond_anything_observed():

    note = "held at 60,000, 7.0x the most it has spent (8,571 at its busiest week's rate)"
    realloc = _reallocation(
        channel=["paid_search", "video"],
        current_spend=[100.0, 50.0],
        lower_bound=[70.0, 50.0],
        upper_bound=[130.0, 50.0],
        recommended_spend=[100.0, 50.0],
        pinned_reason=[None, "no usable response curve: poor fit"],
        note=[None, note],
    )
    con = _marts(budget_reallocation=realloc)
    text = " ".join(sections.budget_section(con, date(2025, 8, 1), "USD").paragraphs)
    assert f"video: {note}." in text


def test_budget_section_names_channels_whose_bursts_cost_revenue():
    import pandas as pd

    curves = pd.DataFrame(
        {
            "month": pd.Timestamp("2025-08-01"),
            "channel": ["events", "events", "paid_search", "video"],
            "metric": ["revenue", "conversions", "revenue", "revenue"],
            "flighting_shortfall": [0.23, 0.23, 0.01, float("nan")],
        }
    )
    assert sections._uneven_spend_text(curves).count("events (23%)") == 1
    assert "paid_search" not in sections._uneven_spend_text(curves)
    assert sections._uneven_spend_text(curves.iloc[2:]) == ""
    assert sections._uneven_spend_text(curves.drop(columns="flighting_shortfall")) == ""


def test_funnel_section_explains_a_cohort_without_entries():
    import pandas as pd

    stages = pd.DataFrame(
        {
            "month": pd.Timestamp("2025-08-01"),
            "segment_type": "all",
            "segment": "all",
            "from_stage": ["lead", "opportunity"],
            "to_stage": ["mql", "customer"],
            "cohort_month": pd.to_datetime(["2025-07-01", "2025-04-01"]),
            "window_days": [30, 120],
            "entered": [321, 0],
            "converted": [146, 0],
            "conversion_rate": [146 / 321, float("nan")],
            "period_rate": [0.43, 0.1],
            "median_days_to_convert": [1.6, float("nan")],
            "p75_days_to_convert": [3.2, float("nan")],
        }
    )
    con = _marts(funnel_stages=stages)
    text = " ".join(sections.funnel_section(con, date(2025, 8, 1), "USD").paragraphs)
    assert (
        "opportunity → customer: the cohort that has had its whole 120-day window (2025-04)" in text
    )
    assert "lead → mql" not in text


def test_weaker_score_note_agrees_with_the_threshold_table():
    """When the score ranks worse than the CRM rule, the report says "keep the CRM rule"
    only if the table recommends it; a recommended stricter threshold is named as a trade
    of SQLs for fewer MQLs, with its numbers."""
    import pandas as pd

    from gtm_assets.report.sections import _weaker_score_note

    options = pd.DataFrame(
        [
            dict(rule="crm mql stage", mqls_per_month=120.0, sqls_per_month=42.0),
            dict(rule="recommended: score >= 34", mqls_per_month=10.0, sqls_per_month=5.0),
        ]
    )
    crm_wins = _weaker_score_note(0.6, 0.8, options.assign(is_recommended=[True, False]))
    assert "keep the CRM rule, and read the score as information only" in crm_wins
    trade = _weaker_score_note(0.6, 0.8, options.assign(is_recommended=[False, True]))
    assert "'recommended: score >= 34'" in trade and "5.0 SQLs a month from 10 MQLs" in trade
    assert "42.0 from 120" in trade and "not a better rule" in trade
    # a recommended looser threshold (more MQLs than the CRM rule) is not "fewer MQLs"
    looser = options.assign(mqls_per_month=[13.0, 40.0], sqls_per_month=[2.5, 3.0])
    more = _weaker_score_note(0.37, 0.6, looser.assign(is_recommended=[False, True]))
    assert "fewer MQLs" not in more
    assert "3.0 SQLs a month from 40 MQLs, against 2.5 from 13" in more
    assert "buys its extra SQLs with more MQLs for sales to work" in more


def test_budget_gain_interval_is_said_with_its_meaning():
    import pandas as pd

    from gtm_assets.report.sections import _gain_interval_text

    sure = pd.DataFrame({"total_gain_ci_low": [1_000.0], "total_gain_ci_high": [9_000.0]})
    assert _gain_interval_text(sure, "USD") == " (interval USD 1,000 to USD 9,000)"
    unsure = sure.assign(total_gain_ci_low=-2_000.0)
    assert "includes no gain, so test the move on part of the budget" in _gain_interval_text(
        unsure, "USD"
    )
    assert _gain_interval_text(pd.DataFrame({"x": [1]}), "USD") == ""
    # no money moves: there is nothing to test
    still = unsure.assign(reference_spend=100.0, recommended_spend=100.4)
    assert _gain_interval_text(still, "USD") == ""
    assert "test the move" in _gain_interval_text(still.assign(recommended_spend=110.0), "USD")


def test_lead_quality_section_counts_leads_without_a_score() -> None:
    """A month without a model says how many leads are still waiting for a score."""
    from gtm_assets.report.sections import lead_quality_section

    con = duckdb.connect()
    con.execute("create schema marts; create schema staging")
    con.execute(
        "create table marts.lead_model_performance as select date '2025-12-01' as month, "
        "false as model_fitted, 'skipped: 72 mature validation leads with 4 SQLs' as note"
    )
    con.execute(
        "create table staging.leads as select * from (values ('a', timestamp '2025-11-30'), "
        "('b', timestamp '2025-12-05'), ('c', timestamp '2025-12-20'), "
        "('d', timestamp '2026-01-03')) as t(lead_id, created_at)"
    )
    con.execute(
        "create table marts.lead_scores as select * from (values ('a', false), ('b', true), "
        "('c', true), ('d', true)) as t(lead_id, unscored)"
    )
    section = lead_quality_section(con, date(2025, 12, 1), "USD")
    text = " ".join(section.paragraphs)
    assert "No model this month: skipped: 72 mature validation leads" in text
    assert "2 leads created by the end of the month have no score yet" in text


def test_data_quality_section_lists_quarantined_rows_by_rule_and_column() -> None:
    from gtm_assets.report.sections import data_quality_section

    con = duckdb.connect()
    con.execute("create schema raw; create schema quarantine")
    con.execute(
        "create table raw.load_manifest as select * from (values "
        "('ad_spend', true, 10, 8, 2), ('leads', true, 5, 5, 0)) "
        "as t(table_name, present, rows_read, rows_loaded, rows_quarantined)"
    )
    con.execute(
        "create table quarantine.ad_spend as select * from (values "
        "('spend_ceiling', 'spend'), ('range', 'clicks')) as t(_rule, _column)"
    )
    section = data_quality_section(con, date(2025, 6, 1), "USD")
    assert "2 input rows were quarantined" in section.paragraphs[0]
    by_rule = next(t for t in section.tables if t.title.startswith("Quarantined rows"))
    text = str(by_rule.rows)
    assert "spend_ceiling" in text and "range" in text and "clicks" in text


def test_experiment_table_shows_the_effect_the_verdict_reads() -> None:
    """A revenue test ships on its revenue per unit (Welch), not on the conversion lift whose
    interval crosses 0; a CUPED conversion test shows its adjusted lift."""
    from gtm_assets.report.sections import _decision_effect

    revenue = dict(
        decision_test="welch_revenue",
        lift_abs=0.035,
        ci_low=-0.005,
        ci_high=0.075,
        revenue_lift_abs=6.53,
        revenue_ci_low=2.49,
        revenue_ci_high=10.57,
    )
    assert _decision_effect(revenue, "EUR") == "+6.53 EUR per unit (+2.49 to +10.57)"
    cuped = dict(
        decision_test="welch_cuped_conversion",
        lift_abs=0.03,
        cuped_lift_abs=0.0263,
        cuped_ci_low=-0.0059,
        cuped_ci_high=0.0585,
    )
    assert _decision_effect(cuped, "EUR") == "+2.6 pts (-0.6 to +5.9)"
    plain = dict(decision_test="ztest_conversion", lift_abs=0.01, ci_low=0.002, ci_high=0.018)
    assert _decision_effect(plain, "EUR") == "+1.0 pts (+0.2 to +1.8)"
    assert _decision_effect(dict(decision_test=None), "EUR") == ""


def test_rates_change_by_points() -> None:
    from gtm_assets.report.sections import _points

    assert _points(-0.516 - -0.752) == "+23.6 pts"  # ROI -75.2% -> -51.6%
    assert _points(0.00066 - 0.00061) == "+0.005 pts"  # CTR 0.061% -> 0.066%
    assert _points(0.0) == "+0.0 pts"


def test_restated_prior_month_is_said_with_both_values() -> None:
    import pandas as pd

    from gtm_assets.report.sections import restated_text

    summary = pd.DataFrame(
        {
            "metric": ["revenue", "customers", "leads", "roas"],
            "prior_month": [732_910.0, 34.0, 1_000.0, 3.1],
            "prior_month_as_reported": [698_961.0, 32.0, 1_000.0, 2.9],
        }
    )
    text = restated_text(summary, date(2025, 5, 1), "USD")
    assert text.startswith("Restated since April's own run")
    assert "revenue (won) USD 698,961 then, USD 732,910 now" in text
    assert "customers (won deals) 32 then, 34 now" in text
    assert "leads 1,000" not in text  # unchanged since April's run
    assert "roas" not in text  # a ratio follows from the restated sums
    assert (
        restated_text(
            summary.assign(prior_month_as_reported=summary.prior_month), date(2025, 5, 1), "USD"
        )
        == ""
    )


def test_attribution_section_says_when_tracking_coverage_fell():
    import pandas as pd

    rows = pd.DataFrame(
        {
            "month": pd.to_datetime(["2025-04-01", "2025-05-01"]),
            "conversion_type": "lead",
            "model": "shapley",
            "channel": "paid_search",
            "share": 1.0,
            "coverage": [0.97, 0.56],
        }
    )
    con = _marts(channel_attribution=rows)
    text = " ".join(sections.attribution_section(con, date(2025, 5, 1), "USD").paragraphs)
    assert "56% of this month's leads had at least one touchpoint in the lookback window, " in text
    assert "down from 97% last month: the credit above covers fewer leads" in text
    april = " ".join(sections.attribution_section(con, date(2025, 4, 1), "USD").paragraphs)
    assert "97% of this month's leads had at least one touchpoint in the lookback window." in april
