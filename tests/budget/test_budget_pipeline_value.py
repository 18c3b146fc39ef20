"""Revenue per lead from won revenue plus open pipeline: the chain-ladder lag, the win rate,
the point-in-time SQL and the value that comes out (hand-computed examples and brute force)."""

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from gtm_assets.analytics.budget import (
    deal_completeness,
    lead_values_regression,
    win_rate,
)
from gtm_assets.sql_files import load_sql


def _ladder_brute_force(lags: pd.DataFrame, horizon: int) -> list[float]:
    """F(d) for d = 0..horizon by explicit loops over deals, one day at a time."""
    deals = list(lags.itertuples(index=False))
    top = min(horizon, max(d.lead_age_days for d in deals))
    f = [1.0] * (top + 1)
    for d in range(top - 1, -1, -1):
        old = [x for x in deals if x.lead_age_days >= d + 1 and x.lag_days <= horizon]
        num = sum(x.value for x in old if max(x.lag_days, 0) <= d)
        den = sum(x.value for x in old if max(x.lag_days, 0) <= d + 1)
        f[d] = f[d + 1] * (num / den if den > 0 else 1.0)
    return f


def _random_lags(n: int, seed: int, min_age: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(min_age, 200, n)
    lag = np.minimum(rng.geometric(0.04, n) - 2, age)  # some -1: a deal dated before its lead
    return pd.DataFrame(
        {"lag_days": lag, "lead_age_days": age, "value": rng.lognormal(8, 1, n).round(2)}
    )


def test_chain_ladder_matches_brute_force_with_young_and_old_leads():
    lags = _random_lags(300, seed=4)
    f = deal_completeness(lags, horizon_days=120)
    ref = _ladder_brute_force(lags, 120)
    assert [f(a) for a in range(len(ref))] == pytest.approx(ref, rel=1e-12)
    assert f(120) == f(10_000) == 1.0


def test_chain_ladder_is_the_plain_share_when_every_lead_is_old():
    lags = _random_lags(300, seed=5, min_age=150)
    f = deal_completeness(lags, horizon_days=120)
    within = lags[lags["lag_days"] <= 120]
    for a in (0, 7, 30, 90, 119):
        share = within.loc[within["lag_days"].clip(lower=0) <= a, "value"].sum()
        assert f(a) == pytest.approx(share / within["value"].sum())


def test_young_account_reads_its_lags_as_ending_at_the_oldest_age():
    # leads at most 30 days old: the ladder cannot see later deals, F(30) = 1
    lags = pd.DataFrame({"lag_days": [5, 20], "lead_age_days": [30, 25], "value": [100.0, 300.0]})
    f = deal_completeness(lags, horizon_days=270)
    assert f(30) == 1.0
    assert f(19) == pytest.approx(0.25)
    assert f(4) == 0.0
    assert deal_completeness(lags.iloc[0:0], 270)(3) == 1.0


def test_win_rate_is_amount_weighted_over_closed_opportunities():
    lags = pd.DataFrame(
        {
            "value": [1000.0, 3000.0, 500.0, 9999.0],
            "closed": [True, True, True, False],
            "won": [True, False, True, False],
        }
    )
    assert win_rate(lags) == pytest.approx(1500 / 4500)
    assert np.isnan(win_rate(lags[~lags["closed"]]))


def test_open_pipeline_counts_at_the_win_rate_and_young_leads_are_scaled():
    # A's lead won 500; B's lead has 1000 open (worth 400 at a 40% win rate); C's lead is
    # 10 days old with 300 open, and by 10 days leads have created half their opportunity
    # value, so it stands for 2 x 0.4 x 300 = 240
    split = pd.DataFrame(
        {
            "lead_id": ["L1", "L2", "L3"],
            "channel": ["A", "B", "C"],
            "credit": [1.0, 1.0, 1.0],
            "age_days": [200, 200, 10],
            "won_value": [500.0, 0.0, 0.0],
            "open_pipeline": [0.0, 1000.0, 300.0],
        }
    )
    opp_lags = pd.DataFrame(
        {"lag_days": [3, 30], "lead_age_days": [200, 200], "value": [100.0, 100.0]}
    )
    v = lead_values_regression(split, opp_lags, 270, 0.3, shrink=False, pipeline_win_rate=0.4)
    v = v.set_index("channel")
    assert v["value_per_lead"].tolist() == pytest.approx([500.0, 400.0, 240.0])
    assert v["won_value_observed"].tolist() == pytest.approx([500.0, 0.0, 0.0])
    won_only = lead_values_regression(split, opp_lags, 270, 0.3, shrink=False)
    assert won_only.set_index("channel")["value_per_lead"].tolist() == pytest.approx([500, 0, 0])


MONTH_END = date(2024, 4, 1)


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema staging; create schema intermediate")
    con.execute(
        "create table staging.leads as select * from (values "
        "('L1', 'p1', timestamp '2024-01-10 09:00'), ('L2', 'p2', timestamp '2024-03-01 09:00'))"
        " as t(lead_id, person_id, created_at)"
    )
    # O1 won in March; O2 lost in 2023 (before the window); O3 open; O4 closed after the
    # month's end (open then); O5 created after the month's end; O6 lost, exported with only a
    # close_date (staging.opportunities dates it by that)
    con.execute(
        "create table staging.opportunities as select * from (values "
        "('O1', 'L1', timestamp '2024-01-20', 1000.0, true, true, "
        " timestamp '2024-03-05', date '2024-03-05'), "
        "('O2', 'L1', timestamp '2024-01-15', 7000.0, true, false, "
        " timestamp '2023-12-31', date '2023-12-31'), "
        "('O3', 'L1', timestamp '2024-02-01', 400.0, false, false, null, date '2024-06-01'), "
        "('O4', 'L2', timestamp '2024-03-10', 250.0, true, true, "
        " timestamp '2024-04-03', date '2024-04-03'), "
        "('O5', 'L2', timestamp '2024-04-02', 9000.0, false, false, null, null), "
        "('O6', 'L2', timestamp '2024-03-11', 600.0, true, false, "
        " timestamp '2024-03-20', date '2024-03-20')) "
        "as t(opportunity_id, lead_id, created_at, amount, is_closed, is_won, closed_at, "
        "close_date)"
    )
    con.execute(
        "create table staging.touchpoints as select * from (values "
        "('p1', timestamp '2024-01-05', 'events'), ('p2', timestamp '2024-02-20', 'email')) "
        "as t(person_id, ts, channel)"
    )
    con.execute(
        "create table intermediate.conversions as select * from (values "
        "('lead', 'L1', 'p1', timestamp '2024-01-10 09:00', 0.0), "
        "('lead', 'L2', 'p2', timestamp '2024-03-01 09:00', 0.0), "
        "('won', 'L1', 'p1', timestamp '2024-03-05', 1000.0), "
        "('won', 'L2', 'p2', timestamp '2024-04-03', 250.0)) "
        "as t(conversion_type, lead_id, person_id, converted_at, value)"
    )
    return con


def test_opportunity_lags_are_as_of_the_month_end(con):
    df = con.execute(
        load_sql("marts/budget_opportunity_lags"),
        {"window_start": date(2024, 1, 1), "month_end": MONTH_END},
    ).df()
    rows = sorted(map(tuple, df[["lag_days", "value", "closed", "won"]].to_numpy().tolist()))
    assert rows == sorted(
        [
            (10, 1000.0, True, True),  # won in the window
            (5, 7000.0, False, False),  # lost before the window: not in the win rate
            (22, 400.0, False, False),  # open
            (9, 250.0, False, False),  # won only after the month's end: open then
            (10, 600.0, True, False),  # lost, dated by its close_date
        ]
    )
    assert set(df["lead_age_days"]) == {82, 31}
    assert win_rate(df) == pytest.approx(1000 / 1600)


def test_lead_value_carries_open_pipeline_as_of_the_month_end(con):
    df = con.execute(
        load_sql("marts/budget_lead_value"),
        {"window_start": date(2024, 1, 1), "month_end": MONTH_END, "lookback_days": 90},
    ).df()
    got = {r.lead_id: (r.channel, r.won_value, r.open_pipeline) for r in df.itertuples()}
    assert got == {"L1": ("events", 1000.0, 400.0), "L2": ("email", 0.0, 250.0)}
