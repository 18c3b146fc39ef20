"""A hand-made warehouse for quarterly planning: Q1 2024 reviewed, Q2 2024 planned.

Monthly marts for Oct 2023 - Mar 2024 (prior quarter and quarter), per month:
  paid_search  spend 10,000  leads 100  customers 10  revenue 30,000  pipeline 80,000
  display      spend  5,000  leads  20  customers  1  revenue  3,000  pipeline  8,000
  organic      spend      0  leads  50  customers  5  revenue 10,000  pipeline 20,000
Quarter: paid_search ROAS 3.0 (worked), display ROAS 0.6 (did not work).
Budget plan Q2: 16,000 / 16,000 / 18,000 = 50,000 (months weighted 0.32/0.32/0.36).
Optimizer's Q2 allocation (March slice): paid_search hist 34,000 / marg 31,000;
display hist 11,000 / marg 14,000 -> 45,000 allocated, reserve 5,000 = 10%.
Funnel: mql -> sql flagged in Jan and Feb (persistent).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from gtm_assets.assets.raw import build_staging
from tests.conftest import create_empty_raw, insert_rows

MONTHS = [
    date(2023, 10, 1),
    date(2023, 11, 1),
    date(2023, 12, 1),
    date(2024, 1, 1),
    date(2024, 2, 1),
    date(2024, 3, 1),
]
CHANNELS = {
    # channel: spend, leads, customers, revenue, pipeline
    "paid_search": (10000.0, 100.0, 10.0, 30000.0, 80000.0),
    "display": (5000.0, 20.0, 1.0, 3000.0, 8000.0),
    "organic_search": (0.0, 50.0, 5.0, 10000.0, 20000.0),
}
HOSTILE = '<script>alert("q")</script> Spring'


def build(path: Path, *, drop_month: date | None = None, allocated_scale: float = 1.0) -> None:
    con = duckdb.connect(str(path))
    try:
        create_empty_raw(con)
        insert_rows(
            con,
            "raw.campaigns",
            [
                dict(
                    campaign_id="S1",
                    campaign_name=HOSTILE,
                    channel="paid_search",
                    campaign_type="always_on",
                    start_date=date(2023, 1, 1),
                    end_date=None,
                    planned_budget=120000.0,
                    utm_campaign="s1",
                ),
                dict(
                    campaign_id="S2",
                    campaign_name="Spring launch",
                    channel="paid_search",
                    campaign_type="launch",
                    start_date=date(2024, 2, 1),
                    end_date=date(2024, 3, 20),
                    planned_budget=10000.0,
                    utm_campaign="s2",
                ),
                dict(
                    campaign_id="D1",
                    campaign_name="Display brand",
                    channel="display",
                    campaign_type="brand",
                    start_date=date(2023, 6, 1),
                    end_date=date(2024, 12, 31),
                    planned_budget=60000.0,
                    utm_campaign="d1",
                ),
            ],
        )
        insert_rows(
            con,
            "raw.budget_plan",
            [
                dict(month=date(2024, 4, 1), channel="paid_search", planned_spend=11000.0),
                dict(month=date(2024, 4, 1), channel="display", planned_spend=5000.0),
                dict(month=date(2024, 5, 1), channel="paid_search", planned_spend=11000.0),
                dict(month=date(2024, 5, 1), channel="display", planned_spend=5000.0),
                dict(month=date(2024, 6, 1), channel="paid_search", planned_spend=12000.0),
                dict(month=date(2024, 6, 1), channel="display", planned_spend=6000.0),
                dict(month=date(2024, 1, 1), channel="paid_search", planned_spend=9000.0),
                dict(month=date(2024, 1, 1), channel="display", planned_spend=5000.0),
            ],
        )
        build_staging(con, "USD")
        cp, cc, ca, fs, fb, es = [], [], [], [], [], []
        for m in MONTHS:
            for ch, (spend, leads, cust, rev, pipe) in CHANNELS.items():
                cp.append(
                    (
                        m,
                        "channel",
                        ch,
                        spend,
                        100000 if spend else 0,
                        1000 if spend else 0,
                        leads,
                        leads / 4,
                        cust,
                        rev,
                        pipe,
                    )
                )
            if m >= date(2024, 1, 1):
                cc += [
                    (
                        m,
                        "S1",
                        HOSTILE,
                        "paid_search",
                        "always_on",
                        7000.0,
                        700,
                        70.0,
                        7.0,
                        21000.0,
                        100.0,
                        2.0,
                    ),
                    (
                        m,
                        "S2",
                        "Spring launch",
                        "paid_search",
                        "launch",
                        3000.0,
                        300,
                        30.0,
                        3.0,
                        9000.0,
                        None,
                        None,
                    ),
                    (
                        m,
                        "D1",
                        "Display brand",
                        "display",
                        "brand",
                        5000.0,
                        1000,
                        20.0,
                        1.0,
                        3000.0,
                        None,
                        2.0,
                    ),
                ]
                for model, shares in (("first_touch", (60, 30, 10)), ("last_touch", (40, 10, 50))):
                    for ch, v in zip(CHANNELS, shares, strict=True):
                        ca.append((m, "lead", model, ch, float(v)))
                fs += [
                    (m, "all", "all", "lead", "mql", 170, 85, 0.5, 0.5),
                    (m, "all", "all", "mql", "sql", 85, 17, 0.2, 0.2),
                ]
                fb += [(m, "all", "all", "mql", "sql", m < date(2024, 3, 1), 0.3, None, 8.5, 1.0)]
                for metric, value in (
                    ("spend", 15000.0),
                    ("revenue", 43000.0),
                    ("leads", 170.0),
                    ("mqls", 85.0),
                    ("sqls", 17.0),
                    ("customers", 16.0),
                ):
                    es.append((m, metric, value, None))
        con.execute(
            "create table marts.channel_performance (month date, level varchar, channel varchar, spend double, "
            "impressions bigint, clicks bigint, leads double, opportunities double, customers double, "
            "attributed_revenue double, attributed_pipeline double)"
        )
        con.executemany("insert into marts.channel_performance values (?,?,?,?,?,?,?,?,?,?,?)", cp)
        con.execute(
            "create table marts.campaign_performance (month date, campaign_id varchar, campaign_name varchar, "
            "channel varchar, campaign_type varchar, spend double, clicks bigint, leads double, customers double, "
            "attributed_revenue double, target_cpa double, target_roas double)"
        )
        con.executemany(
            "insert into marts.campaign_performance values (?,?,?,?,?,?,?,?,?,?,?,?)", cc
        )
        con.execute(
            "create table marts.channel_attribution (month date, conversion_type varchar, model varchar, "
            "channel varchar, attributed_conversions double)"
        )
        con.executemany("insert into marts.channel_attribution values (?,?,?,?,?)", ca)
        con.execute(
            "create table marts.funnel_stages (month date, segment_type varchar, segment varchar, from_stage varchar, "
            "to_stage varchar, entered bigint, converted bigint, conversion_rate double, period_rate double)"
        )
        con.executemany("insert into marts.funnel_stages values (?,?,?,?,?,?,?,?,?)", fs)
        con.execute("alter table marts.funnel_stages add column period_to_entries bigint")
        con.execute(
            "create table marts.funnel_bottlenecks (month date, segment_type varchar, segment varchar, "
            "from_stage varchar, to_stage varchar, flagged boolean, baseline_rate double, target_rate double, "
            "shortfall_units double, downstream_customers_lost double)"
        )
        con.executemany("insert into marts.funnel_bottlenecks values (?,?,?,?,?,?,?,?,?,?)", fb)
        con.execute(
            "create table marts.executive_summary (month date, metric varchar, value double, target double)"
        )
        con.executemany("insert into marts.executive_summary values (?,?,?,?)", es)
        con.execute(
            "create table marts.budget_quarterly_allocation (month date, quarter_start date, channel varchar, "
            "current_quarter_spend double, average_roas_history double, lower_bound double, upper_bound double, "
            "historical_roi_spend double, marginal_roi_spend double, expected_revenue_current double, "
            "expected_revenue_historical_roi double, expected_revenue_marginal_roi double, pinned boolean, "
            "pinned_reason varchar, objective varchar, is_quarter_end boolean)"
        )
        s = allocated_scale
        con.executemany(
            "insert into marts.budget_quarterly_allocation values (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    date(2024, 3, 1),
                    date(2024, 4, 1),
                    "paid_search",
                    30000.0,
                    3.0,
                    21000.0,
                    39000.0,
                    34000.0 * s,
                    31000.0 * s,
                    90000.0,
                    100000.0,
                    95000.0,
                    False,
                    None,
                    "revenue",
                    True,
                ),
                (
                    date(2024, 3, 1),
                    date(2024, 4, 1),
                    "display",
                    15000.0,
                    0.6,
                    10500.0,
                    19500.0,
                    11000.0 * s,
                    14000.0 * s,
                    9000.0,
                    6600.0,
                    9500.0,
                    False,
                    None,
                    "revenue",
                    True,
                ),
            ],
        )
        if drop_month is not None:
            con.execute("delete from marts.executive_summary where month = ?", [drop_month])
    finally:
        con.close()
