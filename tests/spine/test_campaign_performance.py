"""marts.campaign_performance and marts.channel_performance against hand-computed numbers."""

import math

import pandas as pd
import pytest

from gtm_assets import warehouse as wh
from gtm_assets.assets.campaign_roi import reconcile
from gtm_assets.assets.common import month_params
from gtm_assets.assets.raw import build_staging
from gtm_assets.sql_files import load_sql
from tests.conftest import insert_rows
from tests.spine.sample_month import FEB, JAN, attribution_rows, load_sample


def _params(model="linear"):
    return month_params("2024-02-01", model=model, min_clicks=10, min_spend=50.0)


@pytest.fixture
def con(raw_con):
    load_sample(raw_con)
    build_staging(raw_con, "USD")
    raw_con.execute(
        "create table marts.campaign_attribution (month date, conversion_type varchar, model varchar, "
        "channel varchar, campaign_id varchar, attributed_conversions double, attributed_revenue double)"
    )
    insert_rows(raw_con, "marts.campaign_attribution", attribution_rows())
    raw_con.execute(
        "create table marts.campaign_attribution_roi as select * from marts.campaign_attribution"
    )
    return raw_con


def _rows(con, model="linear") -> dict[str, dict]:
    params = _params(model)
    wh.replace_month(
        con, "marts.campaign_performance", load_sql("marts/campaign_performance"), FEB, params
    )
    df = wh.query_df(con, "select * from marts.campaign_performance where month = $m", {"m": FEB})
    return {r["campaign_id"]: r for r in df.to_dict("records")}


def _null(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)


def test_campaign_metrics_hand_computed(con):
    c1 = _rows(con)["C1"]
    assert (c1["spend"], c1["impressions"], c1["clicks"]) == (400.0, 3000, 200)
    assert (c1["leads"], c1["opportunities"], c1["customers"]) == (4.0, 1.0, 1.0)
    assert c1["attributed_revenue"] == 1200.0 and c1["attributed_pipeline"] == 2000.0
    assert c1["roi"] == pytest.approx((1200 - 400) / 400)
    assert c1["roas"] == pytest.approx(3.0)
    assert c1["cac"] == pytest.approx(400.0)
    assert c1["cpa"] == pytest.approx(100.0)
    assert c1["ctr"] == pytest.approx(200 / 3000)
    assert c1["cvr"] == pytest.approx(4 / 200)
    assert c1["campaign_name"] == 'Spring "Launch", 2024 =SUM(A1)'


def test_targets_vs_actual(con):
    rows = _rows(con)
    assert rows["C1"]["target_cpa"] == 50.0 and rows["C1"]["cpa_vs_target"] == pytest.approx(1.0)
    assert rows["C1"]["roas_vs_target"] == pytest.approx(0.5)
    assert rows["C2"]["target_cpa"] == 200.0  # from the targets table
    assert rows["C2"]["cpa_vs_target"] == pytest.approx(240 / 200 - 1)


def test_non_usd_campaign_in_reporting_currency(con):
    c2 = _rows(con)["C2"]
    assert c2["spend"] == pytest.approx(120.0)
    assert c2["cpa"] == pytest.approx(240.0)
    assert c2["roi"] == pytest.approx(-1.0)
    assert _null(c2["cac"])  # no customers


def test_ratios_are_null_on_zero_denominators(con):
    c3 = _rows(con)["C3"]
    for ratio in ("roi", "roas", "cac", "cpa", "ctr", "cvr"):
        assert _null(c3[ratio]), ratio
    violations = wh.query_df(
        con, load_sql("marts/campaign_performance_ratio_violations"), _params()
    )
    assert violations.empty


def test_month_over_month_and_trailing(con):
    c1 = _rows(con)["C1"]
    assert c1["prior_spend"] == 200.0 and c1["spend_change_pct"] == pytest.approx(100.0)
    assert c1["prior_leads"] == 2.0 and c1["leads_change_pct"] == pytest.approx(100.0)
    assert _null(c1["revenue_change_pct"])  # prior revenue was 0
    assert c1["trailing_3m_avg_spend"] == pytest.approx(200 / 3)
    assert c1["trailing_3m_cpa"] == pytest.approx(100.0)
    assert c1["trailing_3m_roas"] == pytest.approx(0.0)


def test_top_and_bottom_need_volume(con):
    rows = _rows(con)
    assert rows["C1"]["performance_tier"] == "top"
    assert rows["C2"]["performance_tier"] == "bottom"
    assert rows["C3"]["performance_tier"] == "insufficient_volume"


def test_untracked_conversions_complete_the_channel_total(con):
    """February has 2 leads, 2 opportunities (pipeline 1,700) and 1 won deal (1,200) in
    intermediate.conversions; attribution credits 1 lead only (the rest had no touch). The
    'untracked' row holds the difference and the total counts every conversion."""
    con.execute("delete from marts.campaign_attribution_roi where month = $m", {"m": FEB})
    insert_rows(
        con,
        "marts.campaign_attribution_roi",
        [{**attribution_rows()[0], "attributed_conversions": 1.0}],  # Feb, lead, paid_search
    )
    wh.replace_month(
        con, "marts.channel_performance", load_sql("marts/channel_performance"), FEB, _params()
    )
    df = wh.query_df(con, "select * from marts.channel_performance where month = $m", {"m": FEB})
    rows = {r["channel"]: r for r in df.to_dict("records")}
    untracked, total = rows["untracked"], rows["total"]
    assert untracked["level"] == "untracked" and untracked["spend"] == 0.0
    assert (untracked["leads"], untracked["opportunities"], untracked["customers"]) == (1, 2, 1)
    assert untracked["attributed_revenue"] == 1200.0
    assert untracked["attributed_pipeline"] == 1700.0
    assert (total["leads"], total["customers"], total["attributed_revenue"]) == (2, 1, 1200.0)
    assert total["cpa"] == pytest.approx(520.0 / 2)
    # no spend, no cost per lead or customer: NULL, not 0
    assert pd.isna(untracked["cpa"]) and pd.isna(untracked["cac"])


def test_no_top_tier_from_campaigns_that_return_nothing(con):
    """With no attributed revenue every rankable campaign has ROAS 0: they tie at the
    bottom, and none is a "top performer" picked by its id."""
    con.execute("update marts.campaign_attribution_roi set attributed_revenue = 0")
    rows = _rows(con)
    assert rows["C1"]["roas"] == 0.0 and rows["C2"]["roas"] == 0.0
    assert rows["C1"]["performance_tier"] == "bottom"
    assert rows["C2"]["performance_tier"] == "bottom"


def test_model_is_configurable(con):
    assert _rows(con, "last_touch")["C1"]["leads"] == 10.0


def test_rerun_is_identical_and_reconciles(con):
    first = _rows(con)
    second = _rows(con)
    assert pd.DataFrame(first.values()).equals(pd.DataFrame(second.values()))
    recon = wh.query_df(con, load_sql("marts/campaign_performance_reconciliation"), _params())
    assert all(reconcile(recon.iloc[0].to_dict()).values())
    assert recon.iloc[0]["mart_spend"] == pytest.approx(520.0)


def test_reconcile_detects_fan_out():
    row = dict(
        mart_spend=1040.0,
        staging_spend=520.0,
        staging_spend_original_currency=500.0,
        raw_spend_original_currency=500.0,
        mart_clicks=220,
        raw_clicks=220,
        mart_impressions=3500,
        raw_impressions=3500,
    )
    assert reconcile(row) == {"spend": False, "clicks": True, "impressions": True}


def test_channel_rollup_and_total(con):
    params = _params()
    wh.replace_month(
        con, "marts.channel_performance", load_sql("marts/channel_performance"), FEB, params
    )
    df = wh.query_df(con, "select * from marts.channel_performance where month = $m", {"m": FEB})
    rows = {r["channel"]: r for r in df.to_dict("records")}
    assert rows["paid_search"]["spend"] == 400.0 and rows["paid_search"]["target_spend"] == 350.0
    assert (
        rows["organic_search"]["spend"] == 0.0
        and rows["organic_search"]["attributed_revenue"] == 800.0
    )
    assert _null(rows["organic_search"]["roas"])
    total = rows["total"]
    assert total["level"] == "total"
    assert total["spend"] == pytest.approx(520.0)
    assert total["leads"] == pytest.approx(7.0)
    assert total["attributed_revenue"] == pytest.approx(2000.0)
    assert total["roas"] == pytest.approx(2000 / 520)
    assert sum(r["spend_share"] for r in rows.values() if r["level"] == "channel") == pytest.approx(
        1.0
    )


def test_change_from_a_crumb_of_credit_is_null(con):
    """January's organic revenue is a 1e-6 leftover of a credit split: "+80,000,000,000%" is
    no change anyone can read, so it is NULL like a change from zero."""
    con.execute(
        "insert into marts.campaign_attribution_roi values "
        "($m, 'won', 'linear', 'organic_search', null, 0.0, 1e-6), "
        "($m, 'lead', 'linear', 'events', 'C2', 0.004, 0.0)",
        {"m": JAN},
    )
    con.execute(
        "delete from marts.campaign_attribution_roi where month = $m and campaign_id = 'C2' "
        "and attributed_conversions = 1.0",
        {"m": JAN},
    )
    params = _params()
    wh.replace_month(
        con, "marts.channel_performance", load_sql("marts/channel_performance"), FEB, params
    )
    df = wh.query_df(con, "select * from marts.channel_performance where month = $m", {"m": FEB})
    rows = {r["channel"]: r for r in df.to_dict("records")}
    assert rows["organic_search"]["prior_attributed_revenue"] == pytest.approx(1e-6)
    assert _null(rows["organic_search"]["revenue_change_pct"])
    assert rows["events"]["prior_leads"] == pytest.approx(0.004)
    assert _null(rows["events"]["leads_change_pct"])
    c2 = _rows(con)["C2"]
    assert c2["prior_leads"] == pytest.approx(0.004) and _null(c2["leads_change_pct"])
