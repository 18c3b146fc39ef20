"""Hand-computed funnel examples, including a censored cohort (gtm_assets.analytics.funnel)."""

from __future__ import annotations

import math
from datetime import date, datetime

import numpy as np
import pandas as pd
import pytest
from statsmodels.duration.survfunc import SurvfuncRight
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from gtm_assets.analytics import funnel as fn

T = pd.Timestamp
SETTINGS = fn.FunnelSettings(windows=fn.DEFAULT_WINDOWS, min_entered=1)


def _leads() -> pd.DataFrame:
    rows = [
        # lead_id, person, created, industry
        ("L1", "P1", "2024-02-05", "saas"),
        ("L2", "P2", "2024-02-10", "saas"),
        ("L3", "P3", "2024-02-25", "retail"),
        ("L4", "P4", "2024-02-28", "retail"),
        ("L5", "P5", "2024-03-02", "saas"),
        ("L6", "P6", "2024-03-25", "saas"),
        ("L7", "P7", "2024-03-01", "retail"),
    ]
    df = pd.DataFrame(rows, columns=["lead_id", "person_id", "created_at", "industry"])
    df["created_at"] = pd.to_datetime(df["created_at"])
    df["company_size_band"] = "50-199"
    df["country"] = "DE"
    df["seniority"] = "vp"
    return df


def _history() -> pd.DataFrame:
    rows = [
        ("L1", "mql", "2024-02-20"),  # 15 days
        ("L2", "mql", "2024-03-20"),  # 39 days: outside the 30-day window
        ("L4", "sql", "2024-03-10"),  # skipped mql: passes mql on 03-10 (11 days)
        ("L5", "mql", "2024-03-12"),  # 10 days
        ("L5", "mql", "2024-03-20"),  # re-entry: first entry counts
        ("L1", "sql", "2024-05-01"),  # after every as-of used below: invisible
    ]
    df = pd.DataFrame(rows, columns=["lead_id", "stage", "entered_at"])
    df["entered_at"] = pd.to_datetime(df["entered_at"])
    return df


def _opps() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "lead_id": pd.Series([], dtype=str),
            "created_at": pd.Series([], dtype="datetime64[us]"),
            "closed_at": pd.Series([], dtype="datetime64[us]"),
            "is_won": pd.Series([], dtype=bool),
        }
    )


def _visitors() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "person_id": ["P1", "P2", "P9", "P3"],
            "first_visit_at": pd.to_datetime(
                ["2024-02-01", "2024-02-03", "2024-02-15", "2024-02-26"]
            ),
            "channel": ["email", "paid_search", "email", "email"],
        }
    )


def _build(as_of: date):
    leads = _leads()
    entries = fn.lead_stage_entries(leads, _history(), _opps(), None, as_of)
    visitors = fn.visitor_entries(_visitors(), leads, as_of)
    return visitors, entries


def _row(df: pd.DataFrame, transition: str, seg_type: str = "all", seg: str = "all") -> pd.Series:
    a, b = transition.split("->")
    sel = df[
        (df.from_stage == a)
        & (df.to_stage == b)
        & (df.segment_type == seg_type)
        & (df.segment == seg)
    ]
    assert len(sel) == 1
    return sel.iloc[0]


def test_backfill_and_first_entry() -> None:
    _, entries = _build(date(2024, 4, 1))
    e = entries.set_index("lead_id")
    assert e.loc["L4", "mql_at"] == T("2024-03-10")  # skipped stage backfilled
    assert e.loc["L4", "sql_at"] == T("2024-03-10")
    assert e.loc["L5", "mql_at"] == T("2024-03-12")  # first of two entries
    assert pd.isna(e.loc["L1", "sql_at"])  # 05-01 is after the as-of moment
    assert pd.isna(e.loc["L3", "mql_at"])
    assert e.loc["L1", "channel"] == "unknown"


def test_mature_cohort_month() -> None:
    assert fn.mature_cohort_month(date(2024, 3, 1), date(2024, 4, 1), 30) == date(2024, 2, 1)
    # February 2024 has 29 days: a 30-day window on its own cohort is not elapsed by Mar 1,
    # nor is January's (Feb 1 + 30 days = Mar 2), so December is the latest mature cohort.
    assert fn.mature_cohort_month(date(2024, 2, 1), date(2024, 3, 1), 30) == date(2023, 12, 1)
    assert fn.mature_cohort_month(date(2024, 2, 1), date(2024, 3, 1), 29) == date(2024, 1, 1)
    # 120 days: the cohort month c needs first-of-(c+1) + 120 days <= Apr 1 -> c = Nov 2023
    assert fn.mature_cohort_month(date(2024, 3, 1), date(2024, 4, 1), 120) == date(2023, 11, 1)


def test_kaplan_meier_hand_and_reference() -> None:
    d = np.array([2, 3, 3, 5, 8, 10], dtype=float)
    e = np.array([1, 0, 1, 1, 0, 0], dtype=bool)
    # S(2)=5/6, S(3)=5/6*4/5, S(5)=4/6*2/3 -> F(6) = 1 - 4/9
    assert fn.kaplan_meier_conversion(d, e, 6) == pytest.approx(5 / 9)
    ref = SurvfuncRight(d, e.astype(int))
    s_at_6 = ref.surv_prob[ref.surv_times <= 6][-1]
    assert fn.kaplan_meier_conversion(d, e, 6) == pytest.approx(1 - s_at_6)
    assert fn.kaplan_meier_conversion(d, e, 12) is None  # nobody followed 12 days


def test_funnel_stages_mature_cohort_and_period() -> None:
    visitors, entries = _build(date(2024, 4, 1))
    df = fn.funnel_stages(visitors, entries, date(2024, 3, 1), SETTINGS)
    r = _row(df, "lead->mql")
    assert r.cohort_month == date(2024, 2, 1)
    # Feb cohort L1..L4: L1 (15 d) and L4 (11 d, via sql) convert within 30 days; L2 took 39.
    assert (r.entered, r.converted) == (4, 2)
    assert r.conversion_rate == pytest.approx(0.5)
    assert r.median_days_to_convert == pytest.approx(13.0)
    # period: 3 leads created in March; mql entries in March: L2, L4, L5
    assert (r.period_from_entries, r.period_to_entries) == (3, 3)
    assert r.period_rate == pytest.approx(1.0)
    # current (March) cohort, censored: L7 (Mar 1, 31 days followed, no mql), L5 converted
    # after 10 days, L6 followed 7 days. KM: at t=10, 2 at risk, 1 event -> F(14) = 0.5
    assert r.current_cohort_entered == 3
    assert r.current_cohort_converted_so_far == 1
    assert r.early_read_days == 14
    assert r.current_cohort_km_rate == pytest.approx(0.5)
    # naive share converted so far would be 1/3; the mature cohort within 14 days: L4 only
    assert r.cohort_rate_at_early_read == pytest.approx(1 / 4)
    seg = _row(df, "lead->mql", "industry", "retail")
    assert (seg.entered, seg.converted) == (2, 1)
    v = _row(df, "visitor->lead")
    # Feb visitors P1, P2, P9 (P3 was a lead before visiting): P1, P2 became leads in 4 and 7 d
    assert (v.entered, v.converted) == (3, 2)
    assert v.median_days_to_convert == pytest.approx(5.5)
    assert set(df.loc[(df.from_stage == "visitor"), "segment_type"]) == {"all", "channel"}


def test_censored_cohort_is_not_reported_as_a_drop() -> None:
    visitors, entries = _build(date(2024, 3, 1))
    df = fn.funnel_stages(visitors, entries, date(2024, 2, 1), SETTINGS)
    r = _row(df, "lead->mql")
    # February's own cohort is immature at Mar 1: the reported cohort is December (empty),
    # so conversion_rate is NULL, not 1/4.
    assert r.cohort_month == date(2023, 12, 1)
    assert r.entered == 0 and pd.isna(r.conversion_rate)
    assert r.current_cohort_entered == 4 and r.current_cohort_converted_so_far == 1
    # early read at 14 days: L2 (20 d followed) and L1 (converted at 15 d) were at risk past
    # 14 days with no conversion by then -> 0; with a 25-day horizon nobody was followed
    # long enough (longest: L2, 20 days) -> no estimate
    assert r.current_cohort_km_rate == pytest.approx(0.0)
    late = fn.funnel_stages(
        visitors,
        entries,
        date(2024, 2, 1),
        fn.FunnelSettings(fn.DEFAULT_WINDOWS, early_read_days=25),
    )
    assert pd.isna(_row(late, "lead->mql").current_cohort_km_rate)


def test_a_partial_month_judges_maturity_at_the_data_end() -> None:
    """March run on data that end on 20 March: February's lead->mql cohort has not had its
    30 days (a lead of 28 February needs until 30 March), so the reported cohort is January
    (empty here), not February; with the whole month of data it is February."""
    visitors, entries = _build(date(2024, 3, 20))
    df = fn.funnel_stages(visitors, entries, date(2024, 3, 1), SETTINGS, as_of=date(2024, 3, 20))
    r = _row(df, "lead->mql")
    assert r.cohort_month == date(2024, 1, 1)
    assert r.entered == 0 and pd.isna(r.conversion_rate)
    whole = fn.funnel_stages(*_build(date(2024, 4, 1)), date(2024, 3, 1), SETTINGS)
    assert _row(whole, "lead->mql").cohort_month == date(2024, 2, 1)


def test_velocity_completed_in_month() -> None:
    visitors, entries = _build(date(2024, 4, 1))
    df = fn.funnel_velocity(visitors, entries, date(2024, 3, 1))
    r = _row(df, "lead->mql")
    # completions in March: L5 10 d, L4 11 d, L2 39 d; February: L1 15 d
    assert r.conversions == 3
    assert r.median_days == pytest.approx(11.0)
    assert r.p75_days == pytest.approx(25.0)
    assert r.prior_median_days == pytest.approx(15.0)
    assert r.median_days_change == pytest.approx(-4.0)


def test_a_skipped_stage_counts_as_passed_but_not_as_zero_days() -> None:
    """L8 went straight to SQL: it passed MQL (entered and converted) but its days from MQL
    to SQL are unknown, so the median is over the leads with a recorded MQL entry."""
    leads = pd.concat(
        [
            _leads(),
            pd.DataFrame(
                {
                    "lead_id": ["L8"],
                    "person_id": ["P8"],
                    "created_at": [T("2024-02-01")],
                    "industry": ["saas"],
                    "company_size_band": ["50-199"],
                    "country": ["DE"],
                    "seniority": ["vp"],
                }
            ),
        ],
        ignore_index=True,
    )
    extra = pd.DataFrame(
        {
            "lead_id": ["L3", "L3", "L8"],
            "stage": ["mql", "sql", "sql"],
            "entered_at": pd.to_datetime(["2024-02-26", "2024-03-04", "2024-02-12"]),
        }
    )
    history = pd.concat([_history(), extra], ignore_index=True)
    entries = fn.lead_stage_entries(leads, history, _opps(), None, date(2024, 4, 1))
    e = entries.set_index("lead_id")
    assert e.loc["L8", "mql_at"] == T("2024-02-12") and e.loc["L8", "mql_skipped"]
    assert not e.loc["L3", "mql_skipped"] and not e.loc["L8", "sql_skipped"]
    visitors = fn.visitor_entries(_visitors(), leads, date(2024, 4, 1))
    r = _row(fn.funnel_stages(visitors, entries, date(2024, 3, 1), SETTINGS), "mql->sql")
    # February MQL cohort: L8 (02-12, skipped), L1 (02-20), L3 (02-26); L8 and L3 reach SQL
    assert r.cohort_month == date(2024, 2, 1)
    assert (r.entered, r.converted) == (3, 2)
    assert r.median_days_to_convert == pytest.approx(7.0)  # L3 only; L8's 0 days would give 3.5
    v = _row(fn.funnel_velocity(visitors, entries, date(2024, 3, 1)), "mql->sql")
    # completed in March: L3 (7 d) and L4 (skipped MQL); February: L8 (skipped) only
    assert v.conversions == 2 and v.median_days == pytest.approx(7.0)
    assert v.prior_conversions == 1 and pd.isna(v.prior_median_days)


def test_z_test_and_bh_against_statsmodels() -> None:
    p = fn.two_proportion_z_less(30, 100, 150, 300)
    _, ref = proportions_ztest([30, 150], [100, 300], alternative="smaller")
    assert p == pytest.approx(ref)
    raw = np.array([0.01, 0.04, 0.03, 0.2, np.nan])
    adj = fn.benjamini_hochberg(raw)
    ref_adj = multipletests(raw[:4], method="fdr_bh")[1]
    np.testing.assert_allclose(adj[:4], ref_adj)
    assert np.isnan(adj[4])


def _synthetic_entries(rates: dict[str, float], n: int = 100) -> pd.DataFrame:
    """n leads per month with lead->mql after 5 days for the first rate*n of them."""
    rows = []
    for month, rate in rates.items():
        start = T(month)
        for i in range(n):
            created = start + pd.Timedelta(hours=i)
            mql = created + pd.Timedelta(days=5) if i < round(rate * n) else pd.NaT
            rows.append(
                {
                    "lead_id": f"{month}-{i}",
                    "person_id": f"{month}-{i}",
                    "channel": "email" if i % 2 else "paid_search",
                    "industry": "saas",
                    "company_size_band": "50-199",
                    "country": "DE",
                    "seniority": "vp",
                    "lead_at": created,
                    "mql_at": mql,
                }
            )
    df = pd.DataFrame(rows)
    for s in ("sql", "opportunity", "customer"):
        df[f"{s}_at"] = pd.NaT
    for s in fn.LEAD_STAGES:
        df[f"{s}_at"] = pd.to_datetime(df[f"{s}_at"]).astype("datetime64[us]")
    return df


def test_bottleneck_flags_significant_drop_only() -> None:
    entries = _synthetic_entries(
        {"2023-11-01": 0.5, "2023-12-01": 0.5, "2024-01-01": 0.5, "2024-02-01": 0.3}
    )
    visitors = fn.visitor_entries(
        _visitors().iloc[:0], entries.rename(columns={"lead_at": "created_at"}), date(2024, 4, 1)
    )
    df = fn.funnel_bottlenecks(visitors, entries, date(2024, 3, 1), SETTINGS)
    r = _row(df, "lead->mql")
    assert r.cohort_month == date(2024, 2, 1)
    assert (r.entered, r.converted, r.baseline_entered, r.baseline_converted) == (100, 30, 300, 150)
    _, ref = proportions_ztest([30, 150], [100, 300], alternative="smaller")
    assert r.p_value_vs_baseline == pytest.approx(ref)
    assert bool(r.flagged) and r.short_of == "baseline"
    assert r.shortfall_units == pytest.approx(100 * (0.5 - 0.3))
    # even split of the drop between the two channels (the first 30 leads alternate)
    ch = df[(df.segment_type == "channel") & (df.from_stage == "lead")]
    np.testing.assert_allclose(ch["share_of_shortfall"].to_numpy(), [0.5, 0.5])
    # a stable month is not flagged
    stable = _synthetic_entries(
        {"2023-11-01": 0.5, "2023-12-01": 0.5, "2024-01-01": 0.5, "2024-02-01": 0.48}
    )
    df2 = fn.funnel_bottlenecks(visitors, stable, date(2024, 3, 1), SETTINGS)
    assert not bool(_row(df2, "lead->mql").flagged)


def test_bottleneck_vs_target_binomial() -> None:
    entries = _synthetic_entries({"2024-02-01": 0.3})
    visitors = fn.visitor_entries(
        _visitors().iloc[:0], entries.rename(columns={"lead_at": "created_at"}), date(2024, 4, 1)
    )
    df = fn.funnel_bottlenecks(
        visitors, entries, date(2024, 3, 1), SETTINGS, target_rates={"lead->mql": 0.45}
    )
    r = _row(df, "lead->mql")
    from scipy.stats import binomtest

    assert r.p_value_vs_target == pytest.approx(binomtest(30, 100, 0.45, alternative="less").pvalue)
    assert bool(r.flagged) and r.short_of == "target"
    assert r.shortfall_units == pytest.approx(100 * (0.45 - 0.3))


def test_integrity_check_catches_inconsistent_segments() -> None:
    visitors, entries = _build(date(2024, 4, 1))
    df = fn.funnel_stages(visitors, entries, date(2024, 3, 1), SETTINGS)
    assert fn.funnel_integrity_problems(df) == []
    broken = df.copy()
    broken.loc[(broken.segment_type == "industry") & (broken.segment == "saas"), "entered"] += 1
    assert any("industry" in p for p in fn.funnel_integrity_problems(broken))


def test_channel_segment_is_the_first_touch_before_each_lead():
    """The funnel's channel segment is the acquisition channel: the person's first touch
    before the lead was created. An imported lead that is only emailed afterwards is
    'unknown', not 'email'; a person's second lead keeps the first touch before it."""
    import duckdb

    from gtm_assets.sql_files import load_sql

    con = duckdb.connect()
    con.execute("create schema staging")
    con.execute(
        "create table staging.leads as select * from (values "
        "('L1', 'P1', timestamp '2025-03-10 09:00'), "  # imported, emailed later
        "('L2', 'P2', timestamp '2025-03-10 09:00'), "  # search, then email
        "('L3', 'P2', timestamp '2025-06-01 09:00')"  # P2 again: still search first
        ") as t(lead_id, person_id, created_at)"
    )
    con.execute(
        "create table staging.touchpoints as select * from (values "
        "('T1', 'P1', timestamp '2025-03-12 08:00', 'email'), "
        "('T2', 'P2', timestamp '2025-03-01 08:00', 'paid_search'), "
        "('T3', 'P2', timestamp '2025-03-10 09:00', 'direct'), "  # at creation: not before
        "('T4', 'P2', timestamp '2025-04-01 08:00', 'email')"
        ") as t(touchpoint_id, person_id, ts, channel)"
    )
    first = (
        con.execute(
            load_sql("intermediate/lead_first_channel"),
            {"as_of": datetime(2025, 7, 1), "since": datetime(1900, 1, 1)},
        )
        .df()
        .rename(columns={"first_channel": "channel"})
    )
    assert dict(zip(first["lead_id"], first["channel"], strict=True)) == {
        "L2": "paid_search",
        "L3": "paid_search",
    }
    leads = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3"],
            "person_id": ["P1", "P2", "P2"],
            "created_at": pd.to_datetime(
                ["2025-03-10 09:00", "2025-03-10 09:00", "2025-06-01 09:00"]
            ),
            "industry": "x",
            "company_size_band": "x",
            "country": "x",
            "seniority": "x",
        }
    )
    empty_history = pd.DataFrame({"lead_id": [], "stage": [], "entered_at": pd.to_datetime([])})
    empty_opps = pd.DataFrame(
        {
            "lead_id": [],
            "created_at": pd.to_datetime([]),
            "closed_at": pd.to_datetime([]),
            "is_won": [],
        }
    )
    entries = fn.lead_stage_entries(leads, empty_history, empty_opps, first, datetime(2025, 7, 1))
    assert entries.set_index("lead_id")["channel"].to_dict() == {
        "L1": "unknown",
        "L2": "paid_search",
        "L3": "paid_search",
    }


def test_early_read_standard_error_matches_statsmodels_greenwood():
    """Greenwood's variance of the Kaplan-Meier estimate, against statsmodels' SurvfuncRight
    (a peer implementation) on censored data with ties."""
    from statsmodels.duration.survfunc import SurvfuncRight

    rng = np.random.default_rng(3)
    days = np.round(rng.exponential(12.0, 300), 1)
    follow = rng.uniform(0, 30, 300)
    converted = days <= follow
    durations = np.where(converted, days, np.round(follow, 1))
    rate, se = fn.kaplan_meier_with_se(durations, converted, 14)
    ref = SurvfuncRight(durations, converted.astype(int))
    at = np.searchsorted(ref.surv_times, 14, side="right") - 1
    assert rate == pytest.approx(1 - ref.surv_prob[at], rel=1e-12)
    assert se == pytest.approx(ref.surv_prob_se[at], rel=1e-9)
    # one-sided p-value of a slower current cohort
    p = fn.early_read_p_value(rate, se, 0.9, 400)
    z = (rate - 0.9) / np.sqrt(se**2 + 0.9 * 0.1 / 400)
    assert p == pytest.approx(0.5 * math.erfc(-z / math.sqrt(2)))
    assert fn.early_read_p_value(None, None, 0.9, 400) is None
