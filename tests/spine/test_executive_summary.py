"""marts.executive_summary against hand-computed numbers (February 2024 sample)."""

import duckdb
import pandas as pd
import pytest

from gtm_assets import warehouse as wh
from gtm_assets.assets.common import covered_end, month_params
from gtm_assets.assets.raw import build_staging
from gtm_assets.sql_files import load_sql
from tests.conftest import create_empty_raw
from tests.spine.sample_month import load_sample


def _build_summary(con, partition_key: str) -> dict:
    """Stage the raw tables, build the month's executive summary as the asset does (data
    end included) and return its rows by metric."""
    build_staging(con, "USD")
    params = month_params(partition_key)
    params["covered_end"] = covered_end(con, params["month_end"])
    month = params["month_start"]
    wh.replace_month(
        con, "marts.executive_summary", load_sql("marts/executive_summary"), month, params
    )
    df = wh.query_df(con, "select * from marts.executive_summary where month = $m", {"m": month})
    return {r["metric"]: r for r in df.to_dict("records")}


@pytest.fixture
def summary(raw_con):
    load_sample(raw_con)
    return _build_summary(raw_con, "2024-02-01")


def test_values(summary):
    assert summary["spend"]["value"] == pytest.approx(520.0)
    assert summary["revenue"]["value"] == pytest.approx(1200.0)
    assert summary["pipeline"]["value"] == pytest.approx(1700.0)
    assert summary["leads"]["value"] == 2.0
    assert summary["mqls"]["value"] == 2.0  # L1 (Feb 11), L3 (Feb 13); L2 was an MQL in Jan
    # L1 (Feb 14) and L2, which skipped SQL: its deal O2 (Feb 21) passes it, as in the funnel
    assert summary["sqls"]["value"] == 2.0
    assert summary["mqls"]["prior_month"] == 1.0  # L2 (Jan 26)
    assert summary["customers"]["value"] == 1.0
    assert summary["roas"]["value"] == pytest.approx(1200 / 520)
    assert summary["roi"]["value"] == pytest.approx((1200 - 520) / 520)
    assert summary["cac"]["value"] == pytest.approx(520.0)
    assert summary["cpa"]["value"] == pytest.approx(260.0)
    assert summary["ctr"]["value"] == pytest.approx(220 / 3500)


def test_prior_month_and_change(summary):
    assert summary["spend"]["prior_month"] == pytest.approx(255.0)  # 200 + 50 EUR at 1.10
    assert summary["spend"]["change_pct"] == pytest.approx(100 * (520 - 255) / 255)
    assert summary["leads"]["prior_month"] == 1.0
    assert (
        summary["revenue"]["change_pct"] is None
        or summary["revenue"]["change_pct"] != summary["revenue"]["change_pct"]
    )


def test_status_against_target(summary):
    assert summary["revenue"]["status"] == "on_track"  # 1200 >= 1000
    assert summary["cac"]["status"] == "on_track"  # 520 <= 600 (lower is better)
    assert summary["spend"]["status"] == "at_risk"  # 13% under the 600 plan
    assert summary["leads"]["status"] == "no_target"


def test_one_row_per_metric(summary):
    assert len(summary) == 14


def test_a_prior_month_before_the_exports_is_unknown_not_zero(raw_con):
    """January is the exports' first month: December has no spend and no leads, so the
    prior-month column and the change are NULL, not 0 and not a +inf change."""
    load_sample(raw_con)
    df = pd.DataFrame(_build_summary(raw_con, "2024-01-01").values())
    assert df["value"].notna().any()
    assert df["prior_month"].isna().all() and df["change_pct"].isna().all()


def test_sample_month_is_complete(summary):
    row = summary["spend"]
    assert not row["partial_month"]
    assert (row["days_covered"], row["days_in_month"]) == (29, 29)


def _summary_with_exports_ending(raw_con, last_day: str, extra: str | None = None) -> dict:
    """The sample (plus the ``extra`` insert) as an export taken after ``last_day`` would
    show it."""
    load_sample(raw_con)
    if extra:
        raw_con.execute(extra)
    cut = f"{last_day} 23:59:59.999999"
    for table, column in (
        ("ad_spend", "date"),
        ("touchpoints", "ts"),
        ("leads", "created_at"),
        ("lead_stage_history", "entered_at"),
        ("opportunities", "created_at"),
    ):
        raw_con.execute(f"delete from raw.{table} where {column} > $cut::timestamp", {"cut": cut})  # noqa: S608
    raw_con.execute(
        "update raw.opportunities set closed_at = null, stage = 'proposal' "
        "where closed_at > $cut::timestamp",
        {"cut": cut},
    )
    return _build_summary(raw_con, "2024-02-01")


def test_partial_month_compares_the_same_days(raw_con):
    """Exports ending on 5 February: February covers days 1-5, January is compared over
    1-5 January (nothing: its spend was on the 10th and 20th), and the 600 spend plan is
    prorated to 5 of 29 days for the status."""
    s = _summary_with_exports_ending(raw_con, "2024-02-05")
    spend = s["spend"]
    assert spend["partial_month"] and (spend["days_covered"], spend["days_in_month"]) == (5, 29)
    # C2 on Feb 3: 100 EUR at 1.20; C1 on Feb 5: 300 USD
    assert spend["value"] == pytest.approx(420.0)
    assert spend["prior_month"] == pytest.approx(0.0)
    assert spend["target"] == pytest.approx(600.0)
    assert spend["target_to_date"] == pytest.approx(600.0 * 5 / 29)
    assert spend["status"] == "off_track"  # 420 against 103.4 to date
    assert s["cac"]["target_to_date"] == pytest.approx(600.0)  # a ratio: not prorated


def test_a_planned_close_date_does_not_hide_a_partial_month(raw_con):
    """Exports ending on 5 February, plus a deal marked won without a closed_at whose
    close_date (27 March) is a plan, not a record: the month is still partial (5 of 29
    days), though the deal closes on that date for the funnel and revenue."""
    s = _summary_with_exports_ending(
        raw_con,
        "2024-02-05",
        "insert into raw.opportunities (opportunity_id, lead_id, created_at, amount, stage, "
        "close_date, closed_at) values ('O9', 'L2', timestamp '2024-02-04 10:00', 50.0, "
        "'closed_won', date '2024-03-27', null)",
    )
    spend = s["spend"]
    assert spend["partial_month"] and (spend["days_covered"], spend["days_in_month"]) == (5, 29)
    closed = raw_con.execute(
        "select closed_at from staging.opportunities where opportunity_id = 'O9'"
    ).fetchall()
    assert closed == [(pd.Timestamp("2024-03-27").to_pydatetime(),)]


def test_partial_month_prior_window(raw_con):
    """Exports ending on 20 February (a deal created that day) compare 1-20 January (both
    January spend days, the 10th and the 20th). Cut after the 19th, the last row left is an
    SQL on the 14th: 1-14 January (the 10th only)."""
    s = _summary_with_exports_ending(raw_con, "2024-02-20")
    spend = s["spend"]
    assert spend["days_covered"] == 20
    # January 1-20 holds both January spend days: 200 USD (10th) and 50 EUR at 1.10 (20th)
    assert spend["prior_month"] == pytest.approx(255.0)
    fresh = duckdb.connect()
    create_empty_raw(fresh)
    s = _summary_with_exports_ending(fresh, "2024-02-19")
    fresh.close()
    assert s["spend"]["days_covered"] == 14
    assert s["spend"]["prior_month"] == pytest.approx(200.0)


def test_a_stage_dated_before_its_lead_counts_in_the_lead_s_month(raw_con):
    """L3 (created 12 Feb 12:00) has an MQL row dated 31 January (an import, a merge): the
    MQL counts at the lead's creation, in February with L1's, not in no month at all."""
    load_sample(raw_con)
    raw_con.execute(
        "insert into raw.lead_stage_history values ('L3', 'mql', timestamp '2024-01-31 09:00')"
    )
    feb = _build_summary(raw_con, "2024-02-01")
    assert feb["mqls"]["value"] == 2.0  # L1 (Feb 11), L3 (Feb 12, at its creation)
    jan = _build_summary(raw_con, "2024-01-01")
    assert jan["mqls"]["value"] == 1.0  # L2 only
    reached = raw_con.execute(
        "select mql_at from intermediate.lead_stage_reached where lead_id = 'L3'"
    ).fetchall()
    assert reached == [(pd.Timestamp("2024-02-12 12:00").to_pydatetime(),)]
